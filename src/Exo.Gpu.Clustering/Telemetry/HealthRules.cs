using System.Globalization;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>The health rules of one device: what its readings, failures and events say, each with hysteresis.</summary>
/// <remarks>Not thread safe: the owning <see cref="DeviceSlot"/>'s lock guards it.</remarks>
internal struct HealthRules
{
    private Hysteresis _temperatureDegraded;
    private Hysteresis _temperatureUnhealthy;
    private Hysteresis _power;
    private Hysteresis _ecc;
    private Hysteresis _slowdown;
    private Hysteresis _failuresDegraded;
    private Hysteresis _failuresUnhealthy;

    /// <summary>Failed readings since the last successful one.</summary>
    public int ConsecutiveFailures;

    /// <summary>Until when (monotonic ticks, exclusive) a critical event keeps the device Unhealthy; 0 for none, <see cref="long.MaxValue"/> until it rejoins.</summary>
    public long CriticalEventUntil;

    /// <summary>What the readings say: Healthy, Degraded or Unhealthy.</summary>
    public readonly GpuHealth SampleLevel =>
        _temperatureUnhealthy.Active || _ecc.Active ? GpuHealth.Unhealthy
        : _temperatureDegraded.Active || _power.Active || _slowdown.Active ? GpuHealth.Degraded
        : GpuHealth.Healthy;

    /// <summary>What the failures say: Healthy, Degraded or Unhealthy.</summary>
    public readonly GpuHealth FailureLevel =>
        _failuresUnhealthy.Active ? GpuHealth.Unhealthy : _failuresDegraded.Active ? GpuHealth.Degraded : GpuHealth.Healthy;

    /// <summary>Judges a successful reading received at <paramref name="received"/> (monotonic ticks; hold times are measured with it), which also ends a run of failures.</summary>
    public void OnSample(in GpuSample sample, long received, TelemetrySettings s)
    {
        var t = received;
        var hold = s.HoldTicks;
        if (sample.TemperatureC is double temperature)
        {
            _temperatureDegraded.Update(temperature, s.TemperatureDegradedRule, hold, t);
            _temperatureUnhealthy.Update(temperature, s.TemperatureUnhealthyRule, hold, t);
        }

        if (sample.PowerW is double power && sample.PowerLimitW is double limit && limit > 0)
        {
            _power.Update(power / limit, s.PowerDegradedRule, hold, t);
        }

        if (sample.EccUncorrectedErrors is long ecc)
        {
            _ecc.Update(ecc, s.EccUnhealthyRule, hold, t);
        }

        if (sample.ClockEventReasons is { } reasons)
        {
            _slowdown.Update((reasons & GpuClockEventReasons.HardwareSlowdownMask) != 0 ? 1 : 0, s.SlowdownRule, hold, t);
        }

        ConsecutiveFailures = 0;
        if (_failuresDegraded.Active | _failuresUnhealthy.Active)
        {
            _failuresDegraded.Update(0, s.FailuresDegradedRule, hold, t);
            _failuresUnhealthy.Update(0, s.FailuresUnhealthyRule, hold, t);
        }
    }

    /// <summary>Counts a failed reading.</summary>
    public void OnFailure(TelemetrySettings s)
    {
        ConsecutiveFailures = ConsecutiveFailures == int.MaxValue ? int.MaxValue : ConsecutiveFailures + 1;
        _failuresDegraded.Raise(ConsecutiveFailures, s.FailuresDegradedRule);
        _failuresUnhealthy.Raise(ConsecutiveFailures, s.FailuresUnhealthyRule);
    }

    /// <summary>Whether a critical event holds the device Unhealthy at <paramref name="now"/> (monotonic ticks).</summary>
    public readonly bool CriticalEventActive(long now) => CriticalEventUntil != 0 && now < CriticalEventUntil;

    /// <summary>Describes why the device has <paramref name="health"/>, in words (only when it changes: it allocates).</summary>
    public readonly string Describe(GpuHealth health, in GpuSample latest, long latestReceived, bool hasSample, long now, TelemetrySettings s, string? eventReason, string? failureReason)
    {
        var reasons = new List<string>(4);
        var c = CultureInfo.InvariantCulture;
        if (CriticalEventActive(now) && eventReason is not null)
        {
            reasons.Add(eventReason);
        }

        if (_failuresUnhealthy.Active || _failuresDegraded.Active)
        {
            reasons.Add(string.Create(c, $"{ConsecutiveFailures} consecutive failed readings") + (failureReason is null ? string.Empty : $" (last: {failureReason})"));
        }

        if (health == GpuHealth.Unknown)
        {
            reasons.Add(hasSample
                ? string.Create(c, $"no reading for {TimeSpan.FromTicks(Math.Max(0, now - latestReceived)).TotalSeconds:0.###} s (staleness limit {s.StalenessLimit.TotalSeconds:0.###} s)")
                : "no reading yet");
            return string.Join("; ", reasons);
        }

        if (_temperatureUnhealthy.Active && s.TemperatureUnhealthy is { } tu)
        {
            reasons.Add(string.Create(c, $"temperature {latest.TemperatureC} °C (Unhealthy from {tu.Enter} °C until below {tu.Leave} °C)"));
        }
        else if (_temperatureDegraded.Active && s.TemperatureDegraded is { } td)
        {
            reasons.Add(string.Create(c, $"temperature {latest.TemperatureC} °C (Degraded from {td.Enter} °C until below {td.Leave} °C)"));
        }

        if (_ecc.Active && s.EccUnhealthy is { } eu)
        {
            reasons.Add(string.Create(c, $"{latest.EccUncorrectedErrors} uncorrected ECC errors (Unhealthy from {eu.Enter})"));
        }

        if (_power.Active && s.PowerDegraded is { } pd)
        {
            reasons.Add(string.Create(c, $"power {latest.PowerW} W of a {latest.PowerLimitW} W limit (Degraded from {pd.Enter:P0} until below {pd.Leave:P0})"));
        }

        if (_slowdown.Active)
        {
            reasons.Add(string.Create(c, $"hardware slowdown ({latest.ClockEventReasons})"));
        }

        return reasons.Count == 0 ? "every health rule passes" : string.Join("; ", reasons);
    }
}
