using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering;

/// <summary>The manager's log messages.</summary>
internal static partial class ManagerLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "GPU cluster started: {DeviceCount} devices from {BackendCount} backends")]
    public static partial void Started(ILogger logger, int deviceCount, int backendCount);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Device {Uuid} left out: its first reading failed")]
    public static partial void DeviceExcluded(ILogger logger, string uuid, Exception exception);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "A {Kind} backend's discovery failed; its devices are left out")]
    public static partial void BackendDiscoveryFailed(ILogger logger, Devices.GpuBackendKind kind, Exception exception);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Device {Uuid} joined the cluster (rejoined: {Rejoined})")]
    public static partial void DeviceAdded(ILogger logger, string uuid, bool rejoined);

    [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "Device {Uuid} is no longer discovered; marked lost")]
    public static partial void DeviceVanished(ILogger logger, string uuid);

    [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "Rediscovery failed")]
    public static partial void RediscoveryFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 106, Level = LogLevel.Information, Message = "GPU cluster shutting down")]
    public static partial void ShuttingDown(ILogger logger);

    [LoggerMessage(EventId = 107, Level = LogLevel.Warning, Message = "Shutdown stopped waiting for lease holders after {DrainTimeout}; {Active} leases were not released")]
    public static partial void DrainTimedOut(ILogger logger, TimeSpan drainTimeout, int active);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "GPU cluster stopped")]
    public static partial void Stopped(ILogger logger);

    [LoggerMessage(EventId = 109, Level = LogLevel.Error, Message = "A host's {Event} handler threw")]
    public static partial void HandlerFailed(ILogger logger, string @event, Exception exception);

    [LoggerMessage(EventId = 110, Level = LogLevel.Warning, Message = "Stopping a component failed during shutdown: {Component}")]
    public static partial void StopFailed(ILogger logger, string component, Exception exception);
}
