using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// The device instruments, named by the OpenTelemetry hardware semantic conventions: one measurement per device with a
/// fresh reading, tagged <c>hw.id</c> (the UUID). Stale and lost devices report nothing rather than an old value.
/// </summary>
/// <remarks>
/// <c>hw.gpu.memory.usage</c> and <c>.limit</c> are observable up-down counters, as the conventions define them
/// (an observable up-down counter reports the current absolute value, like a gauge); the others are gauges.
/// </remarks>
internal sealed class TelemetryInstruments
{
    private readonly TelemetryCollector _collector;

    public TelemetryInstruments(Meter meter, TelemetryCollector collector)
    {
        _collector = collector;
        meter.CreateObservableGauge(GpuInstruments.GpuUtilization, () => Observe(static s => s.UtilizationPercent / 100), GpuInstruments.GpuUtilizationUnit, GpuInstruments.GpuUtilizationDescription);
        meter.CreateObservableUpDownCounter(GpuInstruments.GpuMemoryUsage, () => Observe(static s => s.MemoryUsedBytes), GpuInstruments.GpuMemoryUsageUnit, GpuInstruments.GpuMemoryUsageDescription);
        meter.CreateObservableUpDownCounter(GpuInstruments.GpuMemoryLimit, () => ObserveLimit(), GpuInstruments.GpuMemoryLimitUnit, GpuInstruments.GpuMemoryLimitDescription);
        meter.CreateObservableGauge(GpuInstruments.Temperature, () => Observe(static s => s.TemperatureC, gpuType: true), GpuInstruments.TemperatureUnit, GpuInstruments.TemperatureDescription);
        meter.CreateObservableGauge(GpuInstruments.Power, () => Observe(static s => s.PowerW, gpuType: true), GpuInstruments.PowerUnit, GpuInstruments.PowerDescription);
    }

    private List<Measurement<T>> Observe<T>(Func<GpuSample, T?> read, bool gpuType = false)
        where T : struct
    {
        var result = new List<Measurement<T>>();
        foreach (var (device, sample) in _collector.FreshSamples())
        {
            if (read(sample) is T value)
            {
                result.Add(new Measurement<T>(value, Tags(device, gpuType)));
            }
        }

        return result;
    }

    private List<Measurement<long>> ObserveLimit()
    {
        var result = new List<Measurement<long>>();
        foreach (var (device, sample) in _collector.FreshSamples())
        {
            result.Add(new Measurement<long>(sample.MemoryTotalBytes ?? device.TotalMemoryBytes, Tags(device, gpuType: false)));
        }

        return result;
    }

    private static KeyValuePair<string, object?>[] Tags(GpuDevice device, bool gpuType) => gpuType
        ? [new(GpuInstruments.HwIdAttribute, device.Uuid), new(GpuInstruments.HwNameAttribute, device.Name), new(GpuInstruments.HwTypeAttribute, GpuInstruments.HwTypeGpu)]
        : [new(GpuInstruments.HwIdAttribute, device.Uuid), new(GpuInstruments.HwNameAttribute, device.Name)];
}
