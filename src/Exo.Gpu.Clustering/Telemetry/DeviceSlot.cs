using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// One device's state: its history ring, its health rules and its lost flag, guarded by a sequence lock.
/// </summary>
/// <remarks>
/// <para><b>Locking.</b> <see cref="_sequence"/> is even when free and odd while a thread holds the slot (writers, and
/// readers that copy history). Holders enter with one compare-and-swap and leave with one release store, so an
/// uncontended record costs two atomic operations and never allocates. <see cref="ReadSnapshot"/> takes no lock: it
/// copies the fields, then checks the sequence did not move (a seqlock), retrying otherwise, so a reader never sees
/// a torn reading and never blocks a writer.</para>
/// <para>The slot never calls out (no events, no logging) while held.</para>
/// </remarks>
internal sealed class DeviceSlot
{
    /// <summary>The history, oldest first.</summary>
    private readonly SampleRing _ring;

    /// <summary>The sequence lock: even when free, odd while held; +2 per hold.</summary>
    private int _sequence;

    /// <summary>The device; replaced when it rejoins (its facts may have changed).</summary>
    private GpuDevice _device;

    /// <summary>Whether the backend reported the device lost and it has not rejoined.</summary>
    private bool _lost;

    /// <summary>Incremented each time the device rejoins, so a poller can reset its per-device state.</summary>
    private int _generation;

    /// <summary>The device's total memory, which validation reads on every reading.</summary>
    private long _totalMemoryBytes;

    /// <summary>The health rules.</summary>
    private HealthRules _rules;

    /// <summary>Why the device was lost, for the health change.</summary>
    private string? _lostReason;

    /// <summary>The last critical event, in words.</summary>
    private string? _eventReason;

    /// <summary>The last failed reading, in words.</summary>
    private string? _failureReason;

    public DeviceSlot(GpuDevice device, int index, int capacity)
    {
        Uuid = device.Uuid;
        _device = device;
        _totalMemoryBytes = device.TotalMemoryBytes;
        Index = index;
        _ring = new SampleRing(capacity);
    }

    /// <summary>The slot's position in the collector.</summary>
    public int Index { get; }

    /// <summary>The device's UUID (the same string instance as its <see cref="GpuDevice.Uuid"/> when the slot was made; never changes).</summary>
    public string Uuid { get; }

    /// <summary>The device (a volatile read; it changes only on rejoin).</summary>
    public GpuDevice Device => Volatile.Read(ref _device);

    /// <summary>The device's total memory in bytes.</summary>
    public long TotalMemoryBytes => Volatile.Read(ref _totalMemoryBytes);

    /// <summary>The health last published; written only under the collector's health lock while the slot is held.</summary>
    public GpuHealth Published { get; set; }

    /// <summary>Whether the device is lost (a racy read; authoritative only under the lock).</summary>
    public bool IsLost => Volatile.Read(ref _lost);

    /// <summary>The rejoin count (a racy read).</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Enters the slot exclusively.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        var s = Volatile.Read(ref _sequence);
        if ((s & 1) != 0 || Interlocked.CompareExchange(ref _sequence, s + 1, s) != s)
        {
            EnterContended();
        }
    }

    /// <summary>Leaves the slot; publishes every write made while held.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit() => Volatile.Write(ref _sequence, _sequence + 1);

    /// <summary>
    /// Appends a validated reading received at <paramref name="received"/> (monotonic ticks) and judges it. The
    /// reading's own timestamp is not looked at: a reading is never refused for its wall-clock stamp.
    /// </summary>
    /// <param name="sample">The reading.</param>
    /// <param name="received">When the collector received it (<see cref="MonotonicClock.Now"/>); a time before the
    /// newest reading's (two threads recording one device) is raised to it, so received times never decrease.</param>
    /// <param name="settings">The settings.</param>
    /// <returns><see cref="RecordOutcome.HealthMayChange"/> only when the verdict this reading implies differs from
    /// the published health, so an unchanged verdict never takes the collector's health lock.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RecordOutcome Record(in GpuSample sample, long received, TelemetrySettings settings)
    {
        Enter();
        if (_lost)
        {
            Exit();
            return RecordOutcome.Lost;
        }

        if (_ring.Count != 0)
        {
            received = Math.Max(received, _ring.NewestReceived);
        }

        _ring.Append(sample, received);
        if (settings.MaxAgeTicks != 0)
        {
            _ring.EvictOlderThan(received - settings.MaxAgeTicks);
        }

        _rules.OnSample(sample, received, settings);

        // The health now: the reading was just received, so it is fresh. Exact, so the collector re-judges (under its
        // health lock) only when the verdict really changes.
        var candidate = Judge(false, _rules.CriticalEventActive(received), _rules.FailureLevel, fresh: true, _rules.SampleLevel);
        var outcome = candidate != Published ? RecordOutcome.HealthMayChange : RecordOutcome.Recorded;
        Exit();
        return outcome;
    }

    /// <summary>Counts a failed reading.</summary>
    /// <returns>Whether the device is not lost (the failure counted).</returns>
    public bool RecordFailure(string reason, TelemetrySettings settings)
    {
        Enter();
        if (_lost)
        {
            Exit();
            return false;
        }

        _rules.OnFailure(settings);
        _failureReason = reason;
        Exit();
        return true;
    }

    /// <summary>Marks a critical event (a critical Xid or a double-bit ECC error).</summary>
    /// <param name="reason">The event, in words.</param>
    /// <param name="until">Until when (monotonic ticks, exclusive) it keeps the device Unhealthy; <see cref="long.MaxValue"/> until it rejoins.</param>
    /// <returns>Whether it counted (the device is not lost).</returns>
    public bool RecordCriticalEvent(string reason, long until)
    {
        Enter();
        var lost = _lost;
        if (!lost)
        {
            _rules.CriticalEventUntil = Math.Max(_rules.CriticalEventUntil, until);
            _eventReason = reason;
        }

        Exit();
        return !lost;
    }

    /// <summary>Marks the device lost.</summary>
    /// <returns>Whether it was not lost before.</returns>
    public bool MarkLost(string reason)
    {
        Enter();
        var was = _lost;
        if (!was)
        {
            _lost = true;
            _lostReason = reason;
        }

        Exit();
        return !was;
    }

    /// <summary>
    /// Brings a lost device back with a fresh history and fresh health rules (a returning device may have been reset
    /// or replaced), or, for a device that is not lost, updates its facts only.
    /// </summary>
    /// <returns>Whether the device was lost and rejoined.</returns>
    public bool Rejoin(GpuDevice device)
    {
        Enter();
        var wasLost = _lost;
        Volatile.Write(ref _device, device);
        Volatile.Write(ref _totalMemoryBytes, device.TotalMemoryBytes);
        if (wasLost)
        {
            _ring.Clear();
            _rules = default;
            _lost = false;
            _lostReason = null;
            _eventReason = null;
            _failureReason = null;
            _generation++;
        }

        Exit();
        return wasLost;
    }

    /// <summary>Reads the slot's state consistently without taking the lock (seqlock); never allocates.</summary>
    public SlotSnapshot ReadSnapshot()
    {
        var spinner = default(SpinWait);
        while (true)
        {
            var seq = Volatile.Read(ref _sequence);
            if ((seq & 1) == 0)
            {
                var count = _ring.Count;
                var snapshot = new SlotSnapshot(
                    _lost,
                    count != 0,
                    count != 0 ? _ring.Newest : default,
                    count != 0 ? _ring.NewestReceived : 0,
                    _rules.SampleLevel,
                    _rules.FailureLevel,
                    _rules.ConsecutiveFailures,
                    _rules.CriticalEventUntil);

                // Every load above must complete before the sequence is read again (a load-load fence: free on x64,
                // "dmb ishld" on Arm64).
                Volatile.ReadBarrier();
                if (Volatile.Read(ref _sequence) == seq)
                {
                    return snapshot;
                }
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>The scheduling state at <paramref name="now"/> (monotonic ticks), read like <see cref="ReadSnapshot"/> (no lock, no allocation).</summary>
    public DeviceState ReadState(long now, long stalenessTicks)
    {
        var spinner = default(SpinWait);
        while (true)
        {
            var seq = Volatile.Read(ref _sequence);
            if ((seq & 1) == 0)
            {
                var lost = _lost;
                var count = _ring.Count;
                var sample = count != 0 ? _ring.Newest : default;
                var received = count != 0 ? _ring.NewestReceived : 0;
                var sampleLevel = _rules.SampleLevel;
                var failureLevel = _rules.FailureLevel;
                var eventUntil = _rules.CriticalEventUntil;
                Volatile.ReadBarrier();
                if (Volatile.Read(ref _sequence) == seq)
                {
                    var fresh = !lost && count != 0 && IsFresh(received, now, stalenessTicks);
                    var health = Judge(lost, eventUntil != 0 && now < eventUntil, failureLevel, fresh, sampleLevel);
                    var age = count != 0 ? TimeSpan.FromTicks(Math.Max(0, now - received)) : TimeSpan.MaxValue;
                    return fresh ? new DeviceState(health, true, WithStaticTotal(sample), age) : new DeviceState(health, false, default, age);
                }
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>
    /// For selection: a reading with memory used but no total gets the device's static total, as validation and the
    /// aggregate read it, so that a full device is not taken for an empty one (issue 12, item 5; the live-helper's one spot here).
    /// </summary>
    private GpuSample WithStaticTotal(in GpuSample sample) =>
        sample.MemoryTotalBytes is null && sample.MemoryUsedBytes is not null ? sample with { MemoryTotalBytes = TotalMemoryBytes } : sample;

    /// <summary>Judges the health at <paramref name="now"/> (monotonic ticks) and forgets an expired critical event; call while held. Never allocates.</summary>
    public GpuHealth JudgeHeld(long now, TelemetrySettings settings)
    {
        var count = _ring.Count;
        var fresh = count != 0 && IsFresh(_ring.NewestReceived, now, settings.StalenessTicks);
        var health = Judge(_lost, _rules.CriticalEventActive(now), _rules.FailureLevel, fresh, _rules.SampleLevel);
        if (_rules.CriticalEventUntil != 0 && !_rules.CriticalEventActive(now))
        {
            _rules.CriticalEventUntil = 0; // expired
        }

        return health;
    }

    /// <summary>Says why the device has <paramref name="health"/> at <paramref name="now"/>, in words; call while held, and only for a change (it allocates).</summary>
    public string DescribeHeld(GpuHealth health, long now, TelemetrySettings settings)
    {
        if (health == GpuHealth.Lost)
        {
            return _lostReason ?? "lost";
        }

        return _ring.Count != 0
            ? _rules.Describe(health, _ring.Newest, _ring.NewestReceived, true, now, settings, _eventReason, _failureReason)
            : _rules.Describe(health, default, 0, false, now, settings, _eventReason, _failureReason);
    }

    /// <summary>Copies the readings received at or after <paramref name="since"/> (monotonic ticks), newest last; at most <paramref name="destination"/>.Length (the newest ones).</summary>
    public int CopyHistory(long since, Span<GpuSample> destination)
    {
        Enter();
        try
        {
            var start = _ring.FirstAtOrAfter(since);
            var available = _ring.Count - start;
            var n = Math.Min(available, destination.Length);
            _ring.CopyTo(start + available - n, destination[..n]);
            return n;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Copies the readings received at or after <paramref name="since"/> (monotonic ticks) into a new array.</summary>
    public GpuSample[] GetHistory(long since)
    {
        Enter();
        try
        {
            var start = _ring.FirstAtOrAfter(since);
            var result = new GpuSample[_ring.Count - start];
            _ring.CopyTo(start, result);
            return result;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>The history's capacity: the most readings <see cref="ExtractMetric"/> can return.</summary>
    public int Capacity => _ring.Capacity;

    /// <summary>
    /// Copies one metric of the readings received at or after <paramref name="since"/> (monotonic ticks) into
    /// <paramref name="destination"/> (at least <see cref="Capacity"/> long), oldest first, skipping readings that lack
    /// it; <paramref name="fromTicks"/> and <paramref name="toTicks"/> are when the first and last values copied were received.
    /// </summary>
    /// <returns>How many values were copied.</returns>
    public int ExtractMetric(long since, TelemetryMetric metric, Span<double> destination, out long fromTicks, out long toTicks)
    {
        Enter();
        try
        {
            var start = _ring.FirstAtOrAfter(since);
            return metric switch
            {
                TelemetryMetric.Utilization => Extract<UtilizationReader>(start, destination, out fromTicks, out toTicks),
                TelemetryMetric.MemoryUsed => Extract<MemoryUsedReader>(start, destination, out fromTicks, out toTicks),
                TelemetryMetric.Temperature => Extract<TemperatureReader>(start, destination, out fromTicks, out toTicks),
                _ => Extract<PowerReader>(start, destination, out fromTicks, out toTicks),
            };
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// The health rule order: Lost; then Unhealthy from a critical event or from failed readings (these need no fresh
    /// reading); then Unknown without a fresh reading; then the worst of what the readings and the failures say.
    /// </summary>
    public static GpuHealth Judge(bool lost, bool criticalEvent, GpuHealth failureLevel, bool fresh, GpuHealth sampleLevel)
    {
        if (lost)
        {
            return GpuHealth.Lost;
        }

        if (criticalEvent || failureLevel == GpuHealth.Unhealthy)
        {
            return GpuHealth.Unhealthy;
        }

        if (!fresh)
        {
            return GpuHealth.Unknown;
        }

        return sampleLevel > failureLevel ? sampleLevel : failureLevel;
    }

    /// <summary>
    /// Whether a reading received at <paramref name="received"/> is fresh at <paramref name="now"/> (both monotonic
    /// ticks): received at most the staleness limit ago. (A reader's <paramref name="now"/> may precede a concurrent
    /// writer's receipt by a moment; that reading is fresh.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsFresh(long received, long now, long stalenessTicks) => now - received <= stalenessTicks;

    private int Extract<TReader>(int start, Span<double> destination, out long fromTicks, out long toTicks)
        where TReader : struct, IMetricReader
    {
        _ring.GetSegments(start, out var first, out var second, out var firstReceived, out var secondReceived);
        fromTicks = 0;
        toTicks = 0;
        var n = ExtractRun<TReader>(first, firstReceived, destination, 0, ref fromTicks, ref toTicks);
        return ExtractRun<TReader>(second, secondReceived, destination, n, ref fromTicks, ref toTicks);
    }

    private static int ExtractRun<TReader>(ReadOnlySpan<GpuSample> run, ReadOnlySpan<long> received, Span<double> destination, int n, ref long fromTicks, ref long toTicks)
        where TReader : struct, IMetricReader
    {
        for (var i = 0; i < run.Length; i++)
        {
            if (TReader.TryRead(run[i], out var value))
            {
                if (n == 0)
                {
                    fromTicks = received[i];
                }

                toTicks = received[i];
                destination[n++] = value;
            }
        }

        return n;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
        var spinner = default(SpinWait);
        while (true)
        {
            var s = Volatile.Read(ref _sequence);
            if ((s & 1) == 0 && Interlocked.CompareExchange(ref _sequence, s + 1, s) == s)
            {
                return;
            }

            spinner.SpinOnce();
        }
    }
}
