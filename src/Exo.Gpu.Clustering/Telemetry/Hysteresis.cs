namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// One health rule's on/off state with hysteresis: on at a value at or above <see cref="HealthThreshold.Enter"/>;
/// off only once every value for the hold time stayed below <see cref="HealthThreshold.Leave"/>. Time is measured
/// with the monotonic times at which the readings were received (never their wall-clock stamps), so judging a
/// reading reads no clock of its own and a wall-clock step cannot shorten or lengthen a hold.
/// </summary>
internal struct Hysteresis
{
    /// <summary>Whether the rule is on.</summary>
    public bool Active;

    /// <summary>Whether the rule is on and its values have stayed below the leave threshold since <see cref="_clearSince"/>.</summary>
    private bool _clearing;

    /// <summary>When (monotonic ticks) the first reading below the leave threshold since the rule was last above it was received; meaningful only while <see cref="_clearing"/>.</summary>
    private long _clearSince;

    /// <summary>Judges one value received at <paramref name="received"/> (monotonic ticks).</summary>
    public void Update(double value, in HealthThreshold threshold, long holdTicks, long received)
    {
        if (!Active)
        {
            if (value >= threshold.Enter)
            {
                Active = true;
                _clearing = false;
            }

            return;
        }

        if (value >= threshold.Leave)
        {
            _clearing = false;
            return;
        }

        if (!_clearing)
        {
            _clearing = true;
            _clearSince = received;
        }

        if (received - _clearSince >= holdTicks)
        {
            Active = false;
            _clearing = false;
        }
    }

    /// <summary>Turns the rule on (or keeps it on) when <paramref name="value"/> reaches the enter threshold, without judging a leave (used where no reading exists: a failed reading).</summary>
    public void Raise(double value, in HealthThreshold threshold)
    {
        if (value >= threshold.Enter)
        {
            Active = true;
        }

        if (Active && value >= threshold.Leave)
        {
            _clearing = false;
        }
    }

    public void Reset() => this = default;
}
