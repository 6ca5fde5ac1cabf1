namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>Validates <see cref="TelemetryOptions"/>; <see cref="TelemetrySettings.From"/> freezes them once they pass.</summary>
internal static class TelemetryOptionsValidator
{
    /// <summary>Adds every invalid value to <paramref name="errors"/>.</summary>
    /// <param name="options">The options.</param>
    /// <param name="path">Their property path: empty, or ending with a dot (<c>Telemetry.</c>).</param>
    /// <param name="errors">Where the errors go, one sentence each.</param>
    public static void Validate(TelemetryOptions options, string path, List<string> errors)
    {
        void Check(bool ok, string name, object? value, string rule)
        {
            if (!ok)
            {
                OptionsValidation.Add(errors, path, name, rule, value);
            }
        }

        var o = options;
        Check(o.HistoryCapacity is >= TelemetryOptions.MinHistoryCapacity and <= TelemetryOptions.MaxHistoryCapacity, nameof(o.HistoryCapacity), o.HistoryCapacity, $"must be from {TelemetryOptions.MinHistoryCapacity} to {TelemetryOptions.MaxHistoryCapacity}");
        Check(o.MaxSampleAge is not TimeSpan age || age > TimeSpan.Zero, nameof(o.MaxSampleAge), o.MaxSampleAge, "must be more than 0, or null");
        Check(o.StalenessLimit > TimeSpan.Zero, nameof(o.StalenessLimit), o.StalenessLimit, "must be more than 0");
        Check(o.HealthHoldTime >= TimeSpan.Zero, nameof(o.HealthHoldTime), o.HealthHoldTime, "must be 0 or more");
        CheckThreshold(errors, path, nameof(o.TemperatureDegradedC), o.TemperatureDegradedC);
        CheckThreshold(errors, path, nameof(o.TemperatureUnhealthyC), o.TemperatureUnhealthyC);
        CheckThreshold(errors, path, nameof(o.PowerDegradedFraction), o.PowerDegradedFraction);
        CheckThreshold(errors, path, nameof(o.EccUncorrectedUnhealthy), o.EccUncorrectedUnhealthy);
        if (o.TemperatureDegradedC is { } td && o.TemperatureUnhealthyC is { } tu && double.IsFinite(td.Enter) && double.IsFinite(tu.Enter))
        {
            Check(tu.Enter >= td.Enter, nameof(o.TemperatureUnhealthyC), tu, $"must enter at or above {path}{nameof(o.TemperatureDegradedC)}'s {OptionsValidation.Format(td.Enter)}");
        }

        Check(o.SamplingFailuresDegraded >= TelemetryOptions.MinSamplingFailuresDegraded, nameof(o.SamplingFailuresDegraded), o.SamplingFailuresDegraded, $"must be {TelemetryOptions.MinSamplingFailuresDegraded} or more");
        Check(
            o.SamplingFailuresUnhealthy >= Math.Max(TelemetryOptions.MinSamplingFailuresDegraded, o.SamplingFailuresDegraded),
            nameof(o.SamplingFailuresUnhealthy),
            o.SamplingFailuresUnhealthy,
            $"must be {TelemetryOptions.MinSamplingFailuresDegraded} or more and at least {path}{nameof(o.SamplingFailuresDegraded)} ({OptionsValidation.Format(o.SamplingFailuresDegraded)})");
        Check(o.CriticalEventHealthDuration is not TimeSpan ev || ev > TimeSpan.Zero, nameof(o.CriticalEventHealthDuration), o.CriticalEventHealthDuration, "must be more than 0, or null");
        Check(o.PollInterval > TimeSpan.Zero && o.PollInterval <= TelemetryOptions.MaxPollInterval, nameof(o.PollInterval), o.PollInterval, "must be more than 0 and at most 1 hour");
        Check(o.SampleTimeout > TimeSpan.Zero, nameof(o.SampleTimeout), o.SampleTimeout, "must be more than 0");
        Check(o.MaxBackoff >= o.PollInterval, nameof(o.MaxBackoff), o.MaxBackoff, $"must be at least {path}{nameof(o.PollInterval)} ({OptionsValidation.Format(o.PollInterval)})");
        Check(o.StalenessLimit > o.PollInterval, nameof(o.StalenessLimit), o.StalenessLimit, $"must be more than {path}{nameof(o.PollInterval)} ({OptionsValidation.Format(o.PollInterval)}), or every device turns stale between polls");
    }

    /// <summary>Validates the options a <see cref="TelemetryCollector"/> was given.</summary>
    /// <param name="options">The options.</param>
    /// <param name="paramName">The parameter that held them.</param>
    /// <exception cref="ArgumentException">One or more values are invalid; the message lists every one.</exception>
    public static void ThrowIfInvalid(TelemetryOptions options, string paramName)
    {
        var errors = new List<string>();
        Validate(options, string.Empty, errors);
        OptionsValidation.ThrowIfAny(errors, "telemetry", paramName);
    }

    private static void CheckThreshold(List<string> errors, string path, string name, HealthThreshold? threshold)
    {
        if (threshold is not { } t)
        {
            return;
        }

        if (!double.IsFinite(t.Enter) || !double.IsFinite(t.Leave))
        {
            OptionsValidation.Add(errors, path, name, "must have finite thresholds", t);
        }
        else if (t.Leave > t.Enter)
        {
            OptionsValidation.Add(errors, path, name, "must leave at or below where it enters", t);
        }
        else if (t.Enter < 0)
        {
            OptionsValidation.Add(errors, path, name, "must enter at 0 or more", t);
        }
    }
}
