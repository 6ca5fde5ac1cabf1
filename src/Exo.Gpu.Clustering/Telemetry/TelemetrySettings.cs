namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// <see cref="TelemetryOptions"/> validated once (by <see cref="TelemetryOptionsValidator"/>) and frozen: the collector
/// and the poller read only this, so a caller changing the options object later changes nothing.
/// </summary>
internal sealed class TelemetrySettings
{
    private TelemetrySettings(TelemetryOptions o)
    {
        HistoryCapacity = o.HistoryCapacity;
        MaxSampleAge = o.MaxSampleAge;
        StalenessLimit = o.StalenessLimit;
        HealthHoldTime = o.HealthHoldTime;
        TemperatureDegraded = o.TemperatureDegradedC;
        TemperatureUnhealthy = o.TemperatureUnhealthyC;
        PowerDegraded = o.PowerDegradedFraction;
        EccUnhealthy = o.EccUncorrectedUnhealthy;
        HardwareSlowdownDegrades = o.HardwareSlowdownDegrades;
        FailuresDegraded = o.SamplingFailuresDegraded;
        FailuresUnhealthy = o.SamplingFailuresUnhealthy;
        CriticalEventDuration = o.CriticalEventHealthDuration;
        PollInterval = o.PollInterval;
        SampleTimeout = o.SampleTimeout;
        MaxBackoff = o.MaxBackoff;
        StalenessTicks = StalenessLimit.Ticks;
        HoldTicks = HealthHoldTime.Ticks;
        MaxAgeTicks = MaxSampleAge?.Ticks ?? 0;
        TemperatureDegradedRule = TemperatureDegraded ?? Off;
        TemperatureUnhealthyRule = TemperatureUnhealthy ?? Off;
        PowerDegradedRule = PowerDegraded ?? Off;
        EccUnhealthyRule = EccUnhealthy ?? Off;
        SlowdownRule = HardwareSlowdownDegrades ? new HealthThreshold(1, 1) : Off;
        FailuresDegradedRule = new HealthThreshold(FailuresDegraded, 1);
        FailuresUnhealthyRule = new HealthThreshold(FailuresUnhealthy, 1);
    }

    /// <summary>A rule that is off: no finite value reaches it.</summary>
    private static HealthThreshold Off => new(double.PositiveInfinity, double.PositiveInfinity);

    // The rules flattened for the recording hot path: a rule that is off never enters (its thresholds are +infinity).
#pragma warning disable SA1401, CA1051 // Plain fields: read on every recorded reading.
    public readonly HealthThreshold TemperatureDegradedRule;
    public readonly HealthThreshold TemperatureUnhealthyRule;
    public readonly HealthThreshold PowerDegradedRule;
    public readonly HealthThreshold EccUnhealthyRule;
    public readonly HealthThreshold SlowdownRule;
    public readonly HealthThreshold FailuresDegradedRule;
    public readonly HealthThreshold FailuresUnhealthyRule;
#pragma warning restore SA1401, CA1051

    public int HistoryCapacity { get; }

    public TimeSpan? MaxSampleAge { get; }

    /// <summary><see cref="MaxSampleAge"/> in ticks, 0 when readings are kept by count only.</summary>
    public long MaxAgeTicks { get; }

    public TimeSpan StalenessLimit { get; }

    public long StalenessTicks { get; }

    public TimeSpan HealthHoldTime { get; }

    public long HoldTicks { get; }

    public HealthThreshold? TemperatureDegraded { get; }

    public HealthThreshold? TemperatureUnhealthy { get; }

    public HealthThreshold? PowerDegraded { get; }

    public HealthThreshold? EccUnhealthy { get; }

    public bool HardwareSlowdownDegrades { get; }

    public int FailuresDegraded { get; }

    public int FailuresUnhealthy { get; }

    public TimeSpan? CriticalEventDuration { get; }

    public TimeSpan PollInterval { get; }

    public TimeSpan SampleTimeout { get; }

    public TimeSpan MaxBackoff { get; }

    /// <summary>Validates every option and freezes them.</summary>
    /// <param name="options">The options; defaults when <see langword="null"/>.</param>
    /// <param name="paramName">The caller's parameter name, for the exception.</param>
    /// <returns>The frozen copy.</returns>
    /// <exception cref="ArgumentException">One or more options are invalid; the message lists every one with its value.</exception>
    public static TelemetrySettings From(TelemetryOptions? options, string paramName = "options")
    {
        options ??= new TelemetryOptions();
        TelemetryOptionsValidator.ThrowIfInvalid(options, paramName);
        return new TelemetrySettings(options);
    }
}
