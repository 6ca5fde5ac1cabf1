namespace Exo.Gpu.Clustering.Telemetry;

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
