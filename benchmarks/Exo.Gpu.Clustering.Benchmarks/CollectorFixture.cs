using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// A real <see cref="TelemetryCollector"/> on a given clock (the system clock in the scale suites) with one reading
/// per device, stamped now, and a staleness limit of a day so the readings stay fresh for the whole run.
/// </summary>
internal static class CollectorFixture
{
    public const long TotalBytes = 80L << 30;

    public static TelemetryCollector Create(int count, TimeProvider time)
    {
        var devices = new GpuDevice[count];
        for (var i = 0; i < count; i++)
        {
            devices[i] = new GpuDevice($"GPU-{i:x8}-0000-4000-8000-{i:x12}", i, "NVIDIA H100 80GB HBM3", TotalBytes, GpuBackendKind.Simulated)
            {
                ComputeCapability = new ComputeCapability(9, 0),
            };
        }

        var collector = new TelemetryCollector(devices, new TelemetryOptions { HistoryCapacity = 4, StalenessLimit = TimeSpan.FromDays(1) }, time);
        var now = time.GetUtcNow();
        for (var i = 0; i < count; i++)
        {
            collector.Record(devices[i].Uuid, new GpuSample
            {
                Timestamp = now,
                MemoryTotalBytes = TotalBytes,
                MemoryUsedBytes = (i % 7) * (4L << 30),
                UtilizationPercent = (i * 13) % 90,
                TemperatureC = 35 + (i % 30),
                PowerW = 100 + (i * 7 % 500),
                PowerLimitW = 700,
            });
        }

        return collector;
    }
}
