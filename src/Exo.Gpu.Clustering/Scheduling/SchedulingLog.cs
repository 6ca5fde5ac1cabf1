using Exo.Gpu.Clustering.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>The scheduler's log messages (source generated; event ids 300–399 in <see cref="LogEventIds"/>).</summary>
internal static partial class SchedulingLog
{
    [LoggerMessage(EventId = LogEventIds.LeasesRevoked, Level = LogLevel.Warning, Message = "Revoked {Count} lease(s) on device {Device}: {Reason}")]
    public static partial void LeasesRevoked(ILogger logger, int count, string device, string reason);

    [LoggerMessage(EventId = LogEventIds.SchedulerShuttingDown, Level = LogLevel.Information, Message = "Scheduler shutting down: {Waiters} waiting request(s) cancelled, {Leases} lease(s) revoked")]
    public static partial void ShuttingDown(ILogger logger, int waiters, int leases);

    [LoggerMessage(EventId = LogEventIds.DeviceSetChanged, Level = LogLevel.Debug, Message = "Device set changed (version {Version}): {Count} device(s)")]
    public static partial void DeviceSetChanged(ILogger logger, int version, int count);

    [LoggerMessage(EventId = LogEventIds.WaiterFailed, Level = LogLevel.Warning, Message = "A waiting request can no longer be served and was failed: {Message}")]
    public static partial void WaiterFailed(ILogger logger, string message);

    [LoggerMessage(EventId = LogEventIds.SchedulerHealthChanged, Level = LogLevel.Debug, Message = "Health of device {Device} changed from {Previous} to {Current}: {Reason}")]
    public static partial void HealthChanged(ILogger logger, Devices.GpuDevice device, Devices.GpuHealth previous, Devices.GpuHealth current, string reason);

    [LoggerMessage(EventId = LogEventIds.HealthChangeFailed, Level = LogLevel.Error, Message = "Handling a health change of device {Device} failed")]
    public static partial void HealthChangeFailed(ILogger logger, Exception exception, string device);
}
