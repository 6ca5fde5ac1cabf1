using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// The device instruments, named by the OpenTelemetry hardware semantic conventions: one measurement per device with a
/// fresh reading, tagged <c>hw.id</c> (the UUID) and the recommended attributes (<see cref="DeviceTags"/>). Stale and
/// lost devices report nothing rather than an old value, except <c>hw.status</c>, which reports every known device.
/// </summary>
/// <remarks>
/// <para><c>hw.gpu.memory.usage</c>, <c>.limit</c> and <c>hw.status</c> are observable up-down counters and
/// <c>hw.errors</c> an observable counter, as the conventions define them (an observable instrument reports the
/// current absolute value); the others are gauges.</para>
/// <para>The meter may be shared (an <see cref="IMeterFactory"/> hands every caller of one name the same meter, and a
/// meter cannot drop an instrument), so once the collector is disposed its callbacks report nothing.</para>
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
        meter.CreateObservableGauge(GpuInstruments.Temperature, () => Observe(static s => s.TemperatureC, typed: true), GpuInstruments.TemperatureUnit, GpuInstruments.TemperatureDescription);
        meter.CreateObservableGauge(GpuInstruments.Power, () => Observe(static s => s.PowerW, typed: true), GpuInstruments.PowerUnit, GpuInstruments.PowerDescription);
        meter.CreateObservableUpDownCounter(GpuInstruments.HwStatus, () => ObserveStatus(), GpuInstruments.HwStatusUnit, GpuInstruments.HwStatusDescription);
        meter.CreateObservableCounter(GpuInstruments.HwErrors, () => ObserveErrors(), GpuInstruments.HwErrorsUnit, GpuInstruments.HwErrorsDescription);
    }

    private List<Measurement<T>> Observe<T>(Func<GpuSample, T?> read, bool typed = false)
        where T : struct
    {
        var result = new List<Measurement<T>>();
        foreach (var (device, sample) in FreshSamples())
        {
            if (read(sample) is T value)
            {
                var tags = DeviceTags.Of(device);
                result.Add(new Measurement<T>(value, typed ? tags.Typed : tags.Gpu));
            }
        }

        return result;
    }

    private List<Measurement<long>> ObserveLimit()
    {
        var result = new List<Measurement<long>>();
        foreach (var (device, sample) in FreshSamples())
        {
            result.Add(new Measurement<long>(sample.MemoryTotalBytes ?? device.TotalMemoryBytes, DeviceTags.Of(device).Gpu));
        }

        return result;
    }

    /// <summary>Three measurements per known device (lost ones included): 1 for its current state, 0 for the others.</summary>
    private List<Measurement<long>> ObserveStatus()
    {
        var result = new List<Measurement<long>>();
        if (_collector.IsDisposed)
        {
            return result;
        }

        var now = _collector.Clock.Now();
        var staleness = _collector.Settings.StalenessTicks;
        foreach (var slot in _collector.Slots)
        {
            var health = slot.ReadSnapshot().Health(now, staleness);
            var tags = DeviceTags.Of(slot.Device);
            result.Add(new Measurement<long>(health == GpuHealth.Healthy ? 1 : 0, tags.Ok));
            result.Add(new Measurement<long>(health == GpuHealth.Degraded ? 1 : 0, tags.Degraded));
            result.Add(new Measurement<long>(health is GpuHealth.Unhealthy or GpuHealth.Lost ? 1 : 0, tags.Failed));
        }

        return result;
    }

    /// <summary>The ECC counts of each fresh reading that carries them.</summary>
    private List<Measurement<long>> ObserveErrors()
    {
        var result = new List<Measurement<long>>();
        foreach (var (device, sample) in FreshSamples())
        {
            var tags = DeviceTags.Of(device);
            if (sample.EccCorrectedErrors is long corrected)
            {
                result.Add(new Measurement<long>(corrected, tags.Corrected));
            }

            if (sample.EccUncorrectedErrors is long uncorrected)
            {
                result.Add(new Measurement<long>(uncorrected, tags.Uncorrected));
            }
        }

        return result;
    }

    private List<(GpuDevice Device, GpuSample Sample)> FreshSamples() => _collector.IsDisposed ? [] : _collector.FreshSamples();
}
