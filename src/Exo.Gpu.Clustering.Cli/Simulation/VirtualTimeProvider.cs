namespace Exo.Gpu.Clustering.Cli.Simulation;

/// <summary>
/// A clock that moves only when told to, so a simulation runs in simulated time, as fast as the machine allows, and
/// the same way every time. Timers (and so <see cref="Task.Delay(TimeSpan, TimeProvider)"/> and
/// <see cref="PeriodicTimer"/>) fire in due-time order, ties in creation order, as <see cref="AdvanceTo"/> passes them.
/// Reading the clock takes no lock (one volatile read): the library reads it on every scan and every reading.
/// </summary>
internal sealed class VirtualTimeProvider : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<VirtualTimer> _timers = [];
    private readonly long _epochTicks;

    /// <summary>Now, in UTC ticks: written under <see cref="_gate"/> (only forward), read without it.</summary>
    private long _nowTicks;
    private long _sequence;

    public VirtualTimeProvider(DateTimeOffset start)
    {
        _epochTicks = start.UtcTicks;
        _nowTicks = start.UtcTicks;
    }

    /// <summary>Now (under <see cref="_gate"/>: the writers' view).</summary>
    private DateTimeOffset Now => new(_nowTicks, TimeSpan.Zero);

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override DateTimeOffset GetUtcNow() => new(Volatile.Read(ref _nowTicks), TimeSpan.Zero);

    public override long GetTimestamp() => Volatile.Read(ref _nowTicks) - _epochTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new VirtualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward to <paramref name="target"/>, firing every timer due on the way.</summary>
    public void AdvanceTo(DateTimeOffset target)
    {
        while (true)
        {
            VirtualTimer? due = null;
            lock (_gate)
            {
                foreach (var timer in _timers)
                {
                    if (timer.DueAt <= target && (due is null || timer.DueAt < due.DueAt || (timer.DueAt == due.DueAt && timer.Sequence < due.Sequence)))
                    {
                        due = timer;
                    }
                }

                if (due is null)
                {
                    if (target > Now)
                    {
                        Volatile.Write(ref _nowTicks, target.UtcTicks);
                    }

                    return;
                }

                if (due.DueAt > Now)
                {
                    Volatile.Write(ref _nowTicks, due.DueAt.UtcTicks);
                }

                if (due.Period > TimeSpan.Zero)
                {
                    due.DueAt += due.Period;
                    due.Sequence = ++_sequence;
                }
                else
                {
                    _timers.Remove(due);
                }
            }

            due.Callback(due.State); // outside the lock: callbacks may create or change timers
        }
    }

    private void Schedule(VirtualTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        lock (_gate)
        {
            _timers.Remove(timer);
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                return;
            }

            timer.DueAt = Now + dueTime;
            timer.Period = period == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : period;
            timer.Sequence = ++_sequence;
            _timers.Add(timer);
        }
    }

    private void Cancel(VirtualTimer timer)
    {
        lock (_gate)
        {
            _timers.Remove(timer);
        }
    }

    private sealed class VirtualTimer(VirtualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public TimerCallback Callback { get; } = callback;

        public object? State { get; } = state;

        public DateTimeOffset DueAt { get; set; }

        public TimeSpan Period { get; set; }

        public long Sequence { get; set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            owner.Schedule(this, dueTime, period);
            return true;
        }

        public void Dispose() => owner.Cancel(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
