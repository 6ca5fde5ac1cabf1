using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Devices;

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
    /// <summary>The library's meter name.</summary>
    public const string MeterName = "Exo.Gpu.Clustering";

    private readonly TelemetryCollector _collector;

    public TelemetryInstruments(Meter meter, TelemetryCollector collector)
    {
        _collector = collector;
        meter.CreateObservableGauge("hw.gpu.utilization", () => Observe(static s => s.UtilizationPercent / 100), "1", "Fraction of time the GPU ran a kernel (NVML utilization / 100).");
        meter.CreateObservableUpDownCounter("hw.gpu.memory.usage", () => Observe(static s => s.MemoryUsedBytes), "By", "GPU memory in use.");
        meter.CreateObservableUpDownCounter("hw.gpu.memory.limit", () => ObserveLimit(), "By", "GPU memory in total.");
        meter.CreateObservableGauge("hw.temperature", () => Observe(static s => s.TemperatureC, gpuType: true), "Cel", "GPU core temperature.");
        meter.CreateObservableGauge("hw.power", () => Observe(static s => s.PowerW, gpuType: true), "W", "GPU power draw.");
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
        ? [new("hw.id", device.Uuid), new("hw.name", device.Name), new("hw.type", "gpu")]
        : [new("hw.id", device.Uuid), new("hw.name", device.Name)];
}
