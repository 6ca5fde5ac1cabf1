using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>The scheduler's log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "Revoked {Count} lease(s) on device {Device}: {Reason}")]
    public static partial void LeasesRevoked(ILogger logger, int count, string device, string reason);

    [LoggerMessage(2, LogLevel.Information, "Scheduler shutting down: {Waiters} waiting request(s) cancelled, {Leases} lease(s) revoked")]
    public static partial void ShuttingDown(ILogger logger, int waiters, int leases);

    [LoggerMessage(3, LogLevel.Debug, "Device set changed (version {Version}): {Count} device(s)")]
    public static partial void DeviceSetChanged(ILogger logger, int version, int count);

    [LoggerMessage(4, LogLevel.Warning, "A waiting request can no longer be served and was failed: {Message}")]
    public static partial void WaiterFailed(ILogger logger, string message);

    [LoggerMessage(5, LogLevel.Debug, "Health of device {Device} changed from {Previous} to {Current}: {Reason}")]
    public static partial void HealthChanged(ILogger logger, string device, Devices.GpuHealth previous, Devices.GpuHealth current, string reason);

    [LoggerMessage(6, LogLevel.Error, "Handling a health change of device {Device} failed")]
    public static partial void HealthChangeFailed(ILogger logger, Exception exception, string device);
}
