using System.Globalization;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// <see cref="TelemetryOptions"/> validated once and frozen: the collector and the poller read only this, so a caller
/// changing the options object later changes nothing.
/// </summary>
internal sealed class TelemetrySettings
{
    /// <summary>The largest history a device may keep.</summary>
    public const int MaxHistoryCapacity = 1 << 20;

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
    /// <exception cref="ArgumentException">One or more options are invalid; the message lists every one with its value.</exception>
    public static TelemetrySettings From(TelemetryOptions? options, string paramName = "options")
    {
        options ??= new TelemetryOptions();
        var errors = new List<string>();
        void Check(bool ok, string name, object? value, string rule)
        {
            if (!ok)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {rule}, got {Format(value)}"));
            }
        }

        Check(options.HistoryCapacity is >= 1 and <= MaxHistoryCapacity, nameof(options.HistoryCapacity), options.HistoryCapacity, $"must be from 1 to {MaxHistoryCapacity}");
        Check(options.MaxSampleAge is not TimeSpan age || age > TimeSpan.Zero, nameof(options.MaxSampleAge), options.MaxSampleAge, "must be more than 0 or null");
        Check(options.StalenessLimit > TimeSpan.Zero, nameof(options.StalenessLimit), options.StalenessLimit, "must be more than 0");
        Check(options.HealthHoldTime >= TimeSpan.Zero, nameof(options.HealthHoldTime), options.HealthHoldTime, "must be 0 or more");
        CheckThreshold(errors, nameof(options.TemperatureDegradedC), options.TemperatureDegradedC);
        CheckThreshold(errors, nameof(options.TemperatureUnhealthyC), options.TemperatureUnhealthyC);
        CheckThreshold(errors, nameof(options.PowerDegradedFraction), options.PowerDegradedFraction);
        CheckThreshold(errors, nameof(options.EccUncorrectedUnhealthy), options.EccUncorrectedUnhealthy);
        if (options.TemperatureDegradedC is { } td && options.TemperatureUnhealthyC is { } tu && double.IsFinite(td.Enter) && double.IsFinite(tu.Enter))
        {
            Check(tu.Enter >= td.Enter, nameof(options.TemperatureUnhealthyC), tu, $"must enter at or above {nameof(options.TemperatureDegradedC)}'s {Format(td.Enter)}");
        }

        Check(options.SamplingFailuresDegraded >= 1, nameof(options.SamplingFailuresDegraded), options.SamplingFailuresDegraded, "must be 1 or more");
        Check(options.SamplingFailuresUnhealthy >= Math.Max(1, options.SamplingFailuresDegraded), nameof(options.SamplingFailuresUnhealthy), options.SamplingFailuresUnhealthy, $"must be at least {nameof(options.SamplingFailuresDegraded)} ({options.SamplingFailuresDegraded})");
        Check(options.CriticalEventHealthDuration is not TimeSpan ev || ev > TimeSpan.Zero, nameof(options.CriticalEventHealthDuration), options.CriticalEventHealthDuration, "must be more than 0 or null");
        Check(options.PollInterval > TimeSpan.Zero && options.PollInterval <= TimeSpan.FromHours(1), nameof(options.PollInterval), options.PollInterval, "must be more than 0 and at most 1 hour");
        Check(options.SampleTimeout > TimeSpan.Zero, nameof(options.SampleTimeout), options.SampleTimeout, "must be more than 0");
        Check(options.MaxBackoff >= options.PollInterval, nameof(options.MaxBackoff), options.MaxBackoff, $"must be at least {nameof(options.PollInterval)} ({Format(options.PollInterval)})");
        Check(options.StalenessLimit > options.PollInterval, nameof(options.StalenessLimit), options.StalenessLimit, $"must be more than {nameof(options.PollInterval)} ({Format(options.PollInterval)}), or every device turns stale between polls");

        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid telemetry options: {string.Join("; ", errors)}.", paramName);
        }

        return new TelemetrySettings(options);
    }

    private static void CheckThreshold(List<string> errors, string name, HealthThreshold? threshold)
    {
        if (threshold is not { } t)
        {
            return;
        }

        if (!double.IsFinite(t.Enter) || !double.IsFinite(t.Leave))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{name} must have finite thresholds, got {Format(t)}"));
        }
        else if (t.Leave > t.Enter)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{name} must leave at or below where it enters, got {Format(t)}"));
        }
        else if (t.Enter < 0)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{name} must enter at 0 or more, got {Format(t)}"));
        }
    }

    private static string Format(object? value) => value switch
    {
        null => "null",
        HealthThreshold t => string.Create(CultureInfo.InvariantCulture, $"enter {t.Enter} / leave {t.Leave}"),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}
