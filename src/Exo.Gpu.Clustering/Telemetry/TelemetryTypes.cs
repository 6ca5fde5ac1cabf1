using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>A reading that <see cref="TelemetryCollector.Summarize"/> can summarize.</summary>
public enum TelemetryMetric
{
    /// <summary><see cref="GpuSample.UtilizationPercent"/>, in percent.</summary>
    Utilization = 0,

    /// <summary><see cref="GpuSample.MemoryUsedBytes"/>, in bytes.</summary>
    MemoryUsed = 1,

    /// <summary><see cref="GpuSample.TemperatureC"/>, in °C.</summary>
    Temperature = 2,

    /// <summary><see cref="GpuSample.PowerW"/>, in watts.</summary>
    Power = 3,
}

/// <summary>
/// Statistics of one reading of one device over a time window. Percentiles use the nearest-rank definition: the
/// p-th percentile of n values is the value at 1-based rank ⌈p·n/100⌉ of the values sorted ascending (no interpolation,
/// so it is always a value that was read).
/// </summary>
/// <param name="Metric">The reading summarized.</param>
/// <param name="Count">How many readings in the window carried the value, 1 or more.</param>
/// <param name="Mean">The arithmetic mean.</param>
/// <param name="Min">The smallest value.</param>
/// <param name="Max">The largest value.</param>
/// <param name="P50">The median (nearest rank).</param>
/// <param name="P95">The 95th percentile (nearest rank).</param>
/// <param name="Last">The newest value.</param>
/// <param name="From">The timestamp of the oldest reading counted.</param>
/// <param name="To">The timestamp of the newest reading counted.</param>
public readonly record struct TelemetrySummary(
    TelemetryMetric Metric,
    int Count,
    double Mean,
    double Min,
    double Max,
    double P50,
    double P95,
    double Last,
    DateTimeOffset From,
    DateTimeOffset To);

/// <summary>The cluster as a whole, built from fresh readings only (stale and lost devices are left out).</summary>
/// <param name="DeviceCount">Every device known, lost ones included.</param>
/// <param name="FreshDeviceCount">Devices with a fresh reading, the ones the other figures describe.</param>
/// <param name="TotalMemoryBytes">Total memory of the fresh devices.</param>
/// <param name="UsedMemoryBytes">Memory in use on the fresh devices that report it.</param>
/// <param name="FreeMemoryBytes">Free memory on the fresh devices that report memory in use.</param>
/// <param name="MeanUtilizationPercent">Mean utilization of the fresh devices that report it, or <see langword="null"/> when none does.</param>
/// <param name="MeanTemperatureC">Mean temperature of the fresh devices that report it, or <see langword="null"/> when none does.</param>
/// <param name="TotalPowerW">Total power draw of the fresh devices that report it, or <see langword="null"/> when none does.</param>
/// <param name="Timestamp">When the aggregate was built.</param>
public sealed record ClusterTelemetry(
    int DeviceCount,
    int FreshDeviceCount,
    long TotalMemoryBytes,
    long UsedMemoryBytes,
    long FreeMemoryBytes,
    double? MeanUtilizationPercent,
    double? MeanTemperatureC,
    double? TotalPowerW,
    DateTimeOffset Timestamp);

/// <summary>What the collector knows about one device now.</summary>
/// <param name="Device">The device.</param>
/// <param name="Health">Its judged health (<see cref="GpuHealth.Unknown"/> when it has no fresh reading).</param>
/// <param name="Latest">Its newest reading, fresh or not, or <see langword="null"/> when none is kept.</param>
/// <param name="IsFresh">Whether <paramref name="Latest"/> is younger than the staleness limit (never for a lost device).</param>
/// <param name="ConsecutiveFailures">Failed readings since the last successful one.</param>
public sealed record GpuDeviceStatus(GpuDevice Device, GpuHealth Health, GpuSample? Latest, bool IsFresh, int ConsecutiveFailures);

/// <summary>A reading recorded for a device, as streamed by <see cref="TelemetryCollector.Subscribe"/>.</summary>
/// <param name="Device">The device.</param>
/// <param name="Sample">The reading.</param>
public readonly record struct DeviceSample(GpuDevice Device, GpuSample Sample);
