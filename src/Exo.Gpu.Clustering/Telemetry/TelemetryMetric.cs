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
