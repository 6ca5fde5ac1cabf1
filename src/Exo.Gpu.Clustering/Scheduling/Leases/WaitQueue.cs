using System.Diagnostics;
using System.Globalization;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The FIFO queue of requests waiting for a lease (an intrusive doubly linked list of <see cref="LeaseWaiter"/>s, so
/// a cancelled waiter leaves from anywhere in O(1)), and the timer that re-examines it while it is not empty.
/// </summary>
/// <remarks>
/// Not thread safe: every call runs under the selector's lock. The timer's callback runs on the thread pool and takes
/// that lock itself. Invariants, checked after every mutation in debug builds (<see cref="AssertInvariants"/>): the
/// links run both ways from head to tail, every node is marked queued, the count is the number of nodes, and the
/// timer is armed exactly while the queue is not empty.
/// </remarks>
[DebuggerDisplay("Count = {_count}, Head = {_head?.Request}, Recheck armed = {_timerArmed}")]
internal sealed class WaitQueue : IDisposable
{
    /// <summary>The scheduler's instruments (the queue depth).</summary>
    private readonly SchedulingMetrics _metrics;

    /// <summary>The re-examination interval.</summary>
    private readonly TimeSpan _recheckInterval;

    /// <summary>Re-examines the queue while requests wait; <see langword="null"/> when turned off.</summary>
    private readonly ITimer? _recheckTimer;

    /// <summary>The head (oldest) of the queue.</summary>
    private LeaseWaiter? _head;

    /// <summary>The tail (newest) of the queue.</summary>
    private LeaseWaiter? _tail;

    /// <summary>How many requests wait.</summary>
    private int _count;

    /// <summary>Whether <see cref="_recheckTimer"/> is armed (it is, exactly while the queue is not empty).</summary>
    private bool _timerArmed;

    /// <summary>Waiters counted on every slot (see <see cref="ResolvedRequest.CountsEverySlot"/>).</summary>
    private int _countedEverywhere;

    /// <summary>Per slot: the waiters counted on it beyond (or, negative, short of) <see cref="_countedEverywhere"/>.</summary>
    private int[] _countDelta = [];

    /// <summary>Creates an empty queue.</summary>
    /// <param name="time">The clock of the re-examination timer.</param>
    /// <param name="recheckInterval">How often the queue is re-examined while not empty; <see cref="Timeout.InfiniteTimeSpan"/>: never.</param>
    /// <param name="onRecheck">What re-examines it (called on the thread pool, without the lock).</param>
    /// <param name="metrics">The instruments whose queue depth follows the queue.</param>
    public WaitQueue(TimeProvider time, TimeSpan recheckInterval, Action onRecheck, SchedulingMetrics metrics)
    {
        _metrics = metrics;
        _recheckInterval = recheckInterval;
        if (recheckInterval != Timeout.InfiniteTimeSpan)
        {
            _recheckTimer = time.CreateTimer(static s => ((Action)s!)(), onRecheck, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>The oldest waiter, or <see langword="null"/> when none waits; walk on with <see cref="LeaseWaiter.Next"/>.</summary>
    public LeaseWaiter? Head => _head;

    /// <summary>How many requests wait.</summary>
    public int Count => _count;

    /// <summary>Whether no request waits (a volatile read: callers outside the lock use it as a hint, and check again under it).</summary>
    public bool IsEmpty => Volatile.Read(ref _head) is null;

    /// <summary>Adds a waiter at the tail; arms the timer if it is the only one.</summary>
    /// <param name="waiter">The waiter.</param>
    /// <param name="resolved">The request's static constraints, which say on which devices it is counted as waiting; none when <see langword="null"/>.</param>
    public void Enqueue(LeaseWaiter waiter, ResolvedRequest? resolved = null)
    {
        waiter.Queued = true;
        waiter.Previous = _tail;
        Tally(waiter, resolved, +1);
        if (_tail is null)
        {
            Volatile.Write(ref _head, waiter);
            Arm(true);
        }
        else
        {
            _tail.Next = waiter;
        }

        _tail = waiter;
        _count++;
        _metrics.QueueDepth.Add(1);
        AssertInvariants();
    }

    /// <summary>Removes a queued waiter, wherever it is; disarms the timer when the queue empties.</summary>
    public void Remove(LeaseWaiter waiter)
    {
        waiter.Queued = false;
        Tally(waiter, null, -1);
        if (waiter.Previous is null)
        {
            Volatile.Write(ref _head, waiter.Next);
        }
        else
        {
            waiter.Previous.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _tail = waiter.Previous;
        }
        else
        {
            waiter.Next.Previous = waiter.Previous;
        }

        waiter.Previous = waiter.Next = null;
        _count--;
        _metrics.QueueDepth.Add(-1);
        if (_head is null)
        {
            Arm(false);
        }

        AssertInvariants();
    }

    /// <summary>
    /// Empties the queue (shutdown) and disarms the timer. The waiters are marked not queued but keep their
    /// <see cref="LeaseWaiter.Next"/> links, so the caller can walk them, outside the lock, from the returned head.
    /// </summary>
    /// <param name="count">How many waiters were removed.</param>
    /// <returns>The oldest removed waiter, or <see langword="null"/>.</returns>
    public LeaseWaiter? RemoveAll(out int count)
    {
        var head = _head;
        count = 0;
        for (var w = head; w is not null; w = w.Next)
        {
            w.Queued = false;
            w.Counted = null;
            count++;
        }

        Volatile.Write(ref _head, null);
        _tail = null;
        _count = 0;
        _countedEverywhere = 0;
        Array.Clear(_countDelta);
        _metrics.QueueDepth.Add(-count);
        Arm(false);
        AssertInvariants();
        return head;
    }

    /// <summary>
    /// How many queued requests the device at <paramref name="slot"/> could serve by their static constraints (as
    /// resolved when they queued; slots are stable across device sets). O(1), whatever the number of waiters: the
    /// counts are kept as requests queue and leave.
    /// </summary>
    public int WaitersOn(int slot) => _countedEverywhere + (slot < _countDelta.Length ? _countDelta[slot] : 0);

    /// <summary>Per slot of <paramref name="table"/>: <see cref="WaitersOn"/>.</summary>
    public int[] WaitersBySlot(SlotTable table)
    {
        var waiters = new int[table.Count];
        for (var slot = 0; slot < waiters.Length; slot++)
        {
            waiters[slot] = WaitersOn(slot);
        }

        return waiters;
    }

    /// <summary>The position of a queued waiter, 1 for the head: O(position), walking from the head.</summary>
    /// <param name="waiter">A waiter in this queue.</param>
    /// <returns>Its position, or 0 when it is not queued.</returns>
    public int PositionOf(LeaseWaiter waiter)
    {
        var position = 1;
        for (var w = _head; w is not null; w = w.Next, position++)
        {
            if (ReferenceEquals(w, waiter))
            {
                return position;
            }
        }

        return 0;
    }

    /// <summary>Stops the timer for good.</summary>
    public void Dispose() => _recheckTimer?.Dispose();

    /// <summary>Throws <see cref="InvalidOperationException"/> when an invariant does not hold (debug builds only; call under the lock).</summary>
    /// <exception cref="InvalidOperationException">The queue is inconsistent; the message says how.</exception>
    [Conditional("DEBUG")]
    public void AssertInvariants()
    {
        if (FindViolation() is { } violation)
        {
            throw new InvalidOperationException("Wait queue invariant violated: " + violation);
        }
    }

    /// <summary>The first invariant that does not hold, described, or <see langword="null"/> when all hold (call under the lock).</summary>
    public string? FindViolation()
    {
        if (_head?.Previous is not null || _tail?.Next is not null || (_head is null) != (_tail is null))
        {
            return "the head or the tail is not an end of the list.";
        }

        var nodes = 0;
        LeaseWaiter? previous = null;
        for (var w = _head; w is not null; w = w.Next)
        {
            if (!w.Queued || !ReferenceEquals(w.Previous, previous))
            {
                return string.Create(CultureInfo.InvariantCulture, $"node {nodes} is not marked queued or its links do not run both ways.");
            }

            previous = w;
            if (++nodes > _count)
            {
                break;
            }
        }

        if (nodes != _count || !ReferenceEquals(previous, _tail))
        {
            return string.Create(CultureInfo.InvariantCulture, $"{_count} waiters are counted, but the list from the head holds {nodes}{(nodes > _count ? " or more" : string.Empty)}.");
        }

        if (_timerArmed != (_recheckTimer is not null && _count > 0))
        {
            return _timerArmed ? "the recheck timer is armed while nothing waits." : "requests wait, but the recheck timer is not armed.";
        }

        var everywhere = 0;
        var delta = new int[_countDelta.Length];
        for (var w = _head; w is not null; w = w.Next)
        {
            if (w.Counted is { } resolved)
            {
                everywhere += resolved.CountsEverySlot ? 1 : 0;
                foreach (var slot in resolved.CountExceptions)
                {
                    delta[slot] += resolved.CountsEverySlot ? -1 : 1;
                }
            }
        }

        if (everywhere != _countedEverywhere || !delta.AsSpan().SequenceEqual(_countDelta))
        {
            return "the per-device waiter counts do not match the waiters queued.";
        }

        return null;
    }

    /// <summary>Adds (<paramref name="sign"/> +1, under <paramref name="resolved"/>) or removes (-1, under what it was counted with) a waiter's per-device counts.</summary>
    private void Tally(LeaseWaiter waiter, ResolvedRequest? resolved, int sign)
    {
        if (sign < 0)
        {
            resolved = waiter.Counted;
            waiter.Counted = null;
        }
        else
        {
            waiter.Counted = resolved;
        }

        if (resolved is null)
        {
            return;
        }

        if (resolved.Allowed.Length > _countDelta.Length)
        {
            Array.Resize(ref _countDelta, Math.Max(resolved.Allowed.Length, _countDelta.Length * 2));
        }

        if (resolved.CountsEverySlot)
        {
            _countedEverywhere += sign;
            sign = -sign;
        }

        foreach (var slot in resolved.CountExceptions)
        {
            _countDelta[slot] += sign;
        }
    }

    private void Arm(bool on)
    {
        if (_recheckTimer is null || _timerArmed == on)
        {
            return;
        }

        var period = on ? _recheckInterval : Timeout.InfiniteTimeSpan;
        _recheckTimer.Change(period, period);
        _timerArmed = on;
    }
}
