using Exo.Gpu.Clustering.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering;

/// <summary>The manager's log messages (source generated; event ids 100–199 in <see cref="LogEventIds"/>).</summary>
internal static partial class ManagerLog
{
    [LoggerMessage(EventId = LogEventIds.Started, Level = LogLevel.Information, Message = "GPU cluster started: {DeviceCount} devices from {BackendCount} backends")]
    public static partial void Started(ILogger logger, int deviceCount, int backendCount);

    [LoggerMessage(EventId = LogEventIds.DeviceExcluded, Level = LogLevel.Warning, Message = "Device {Uuid} left out: its first reading failed")]
    public static partial void DeviceExcluded(ILogger logger, string uuid, Exception exception);

    [LoggerMessage(EventId = LogEventIds.BackendDiscoveryFailed, Level = LogLevel.Warning, Message = "A {Kind} backend's discovery failed; its devices are left out")]
    public static partial void BackendDiscoveryFailed(ILogger logger, Devices.GpuBackendKind kind, Exception exception);

    [LoggerMessage(EventId = LogEventIds.DeviceAdded, Level = LogLevel.Information, Message = "Device {Uuid} joined the cluster (rejoined: {Rejoined})")]
    public static partial void DeviceAdded(ILogger logger, string uuid, bool rejoined);

    [LoggerMessage(EventId = LogEventIds.DeviceVanished, Level = LogLevel.Warning, Message = "Device {Uuid} is no longer discovered; marked lost")]
    public static partial void DeviceVanished(ILogger logger, string uuid);

    [LoggerMessage(EventId = LogEventIds.RediscoveryFailed, Level = LogLevel.Warning, Message = "Rediscovery failed")]
    public static partial void RediscoveryFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = LogEventIds.ShuttingDown, Level = LogLevel.Information, Message = "GPU cluster shutting down")]
    public static partial void ShuttingDown(ILogger logger);

    [LoggerMessage(EventId = LogEventIds.DrainTimedOut, Level = LogLevel.Warning, Message = "Shutdown stopped waiting for lease holders after {DrainTimeout}; {Active} leases were not released")]
    public static partial void DrainTimedOut(ILogger logger, TimeSpan drainTimeout, int active);

    [LoggerMessage(EventId = LogEventIds.Stopped, Level = LogLevel.Information, Message = "GPU cluster stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = LogEventIds.HandlerFailed, Level = LogLevel.Error, Message = "A host's {Event} handler threw")]
    public static partial void HandlerFailed(ILogger logger, string @event, Exception exception);

    [LoggerMessage(EventId = LogEventIds.StopAbandoned, Level = LogLevel.Warning, Message = "{Component} did not stop within the stop timeout of {StopTimeout}; abandoned")]
    public static partial void StopAbandoned(ILogger logger, string component, TimeSpan stopTimeout);

    [LoggerMessage(EventId = LogEventIds.FellBackToSimulated, Level = LogLevel.Warning, Message = "No usable NVIDIA driver, so the GPU cluster runs on SIMULATED devices: {Reason}. Set BackendChoice to Nvml to fail the start instead")]
    public static partial void FellBackToSimulated(ILogger logger, string reason);

    [LoggerMessage(EventId = LogEventIds.StopFailed, Level = LogLevel.Warning, Message = "Stopping a component failed during shutdown: {Component}")]
    public static partial void StopFailed(ILogger logger, string component, Exception exception);
}
