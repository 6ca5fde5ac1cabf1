namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// One health rule's on/off state with hysteresis: on at a value at or above <see cref="HealthThreshold.Enter"/>;
/// off only once every value for the hold time stayed below <see cref="HealthThreshold.Leave"/>. Time is measured
/// with the readings' own timestamps, so judging a reading never reads a clock.
/// </summary>
internal struct Hysteresis
{
    /// <summary>Whether the rule is on.</summary>
    public bool Active;

    /// <summary>The timestamp (UTC ticks) of the first reading below the leave threshold since the rule was last above it; 0 when not clearing.</summary>
    private long _clearSince;

    /// <summary>Judges one value.</summary>
    public void Update(double value, in HealthThreshold threshold, long holdTicks, long utcTicks)
    {
        if (!Active)
        {
            if (value >= threshold.Enter)
            {
                Active = true;
                _clearSince = 0;
            }

            return;
        }

        if (value >= threshold.Leave)
        {
            _clearSince = 0;
            return;
        }

        if (_clearSince == 0)
        {
            _clearSince = utcTicks;
        }

        if (utcTicks - _clearSince >= holdTicks)
        {
            Active = false;
            _clearSince = 0;
        }
    }

    /// <summary>Turns the rule on (or keeps it on) when <paramref name="value"/> reaches the enter threshold, without judging a leave (used where no timestamp exists: a failed reading).</summary>
    public void Raise(double value, in HealthThreshold threshold)
    {
        if (value >= threshold.Enter)
        {
            Active = true;
        }

        if (Active && value >= threshold.Leave)
        {
            _clearSince = 0;
        }
    }

    public void Reset() => this = default;
}
