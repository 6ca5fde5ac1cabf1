using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// A fixed-capacity circular buffer of one device's readings, oldest first, each with the monotonic time at which the
/// collector received it (<see cref="MonotonicClock.Now"/>); received times never decrease from oldest to newest, so
/// windows and age eviction search them. A reading's own wall-clock <see cref="GpuSample.Timestamp"/> is kept as
/// information only and may be in any order. Appending overwrites the oldest reading when full; both append and
/// eviction are O(1) (eviction by age is amortized: each reading is evicted once) and never allocate.
/// </summary>
/// <remarks>Not thread safe: the owning <see cref="DeviceSlot"/>'s lock guards every call.</remarks>
internal sealed class SampleRing
{
    /// <summary>The storage; its length is the capacity. <see cref="GpuSample"/> holds no references, so a slot is never cleared.</summary>
    private readonly GpuSample[] _items;

    /// <summary>When each reading in <see cref="_items"/> was received (monotonic ticks), at the same physical index.</summary>
    private readonly long[] _received;

    /// <summary>The physical index of the oldest reading.</summary>
    private int _head;

    /// <summary>How many readings are kept.</summary>
    private int _count;

    public SampleRing(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _items = new GpuSample[capacity];
        _received = new long[capacity];
    }

    public int Capacity => _items.Length;

    public int Count => _count;

    /// <summary>The newest reading; only when <see cref="Count"/> is more than 0.</summary>
    public ref readonly GpuSample Newest => ref _items[Physical(_count - 1)];

    /// <summary>When the newest reading was received; only when <see cref="Count"/> is more than 0.</summary>
    public long NewestReceived => _received[Physical(_count - 1)];

    /// <summary>The reading at a logical position, 0 being the oldest.</summary>
    public ref readonly GpuSample this[int index] => ref _items[Physical(index)];

    /// <summary>When the reading at a logical position was received, 0 being the oldest.</summary>
    public long ReceivedAt(int index) => _received[Physical(index)];

    /// <summary>Appends a reading received at <paramref name="received"/> (not before the newest one's), overwriting the oldest when full.</summary>
    public void Append(in GpuSample sample, long received)
    {
        var items = _items;
        if (_count == items.Length)
        {
            items[_head] = sample;
            _received[_head] = received;
            if (++_head == items.Length)
            {
                _head = 0;
            }
        }
        else
        {
            var i = _head + _count;
            if (i >= items.Length)
            {
                i -= items.Length;
            }

            items[i] = sample;
            _received[i] = received;
            _count++;
        }
    }

    /// <summary>Drops the readings received before <paramref name="received"/> (oldest first, so it stops at the first kept one).</summary>
    public void EvictOlderThan(long received)
    {
        var stamps = _received;
        while (_count > 0 && stamps[_head] < received)
        {
            if (++_head == stamps.Length)
            {
                _head = 0;
            }

            _count--;
        }
    }

    /// <summary>Drops every reading.</summary>
    public void Clear()
    {
        _head = 0;
        _count = 0;
    }

    /// <summary>The logical index of the first reading received at or after <paramref name="received"/> (binary search); <see cref="Count"/> when none.</summary>
    public int FirstAtOrAfter(long received)
    {
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            var mid = (int)((uint)(lo + hi) >> 1);
            if (ReceivedAt(mid) < received)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>
    /// The readings from logical index <paramref name="start"/> to the newest, as at most two contiguous runs, oldest
    /// first, with their received times (<paramref name="firstReceived"/> and <paramref name="secondReceived"/>, as long).
    /// </summary>
    public void GetSegments(
        int start,
        out ReadOnlySpan<GpuSample> first,
        out ReadOnlySpan<GpuSample> second,
        out ReadOnlySpan<long> firstReceived,
        out ReadOnlySpan<long> secondReceived)
    {
        var count = _count - start;
        if (count <= 0)
        {
            first = second = default;
            firstReceived = secondReceived = default;
            return;
        }

        var begin = Physical(start);
        var firstRun = Math.Min(count, _items.Length - begin);
        first = _items.AsSpan(begin, firstRun);
        second = _items.AsSpan(0, count - firstRun);
        firstReceived = _received.AsSpan(begin, firstRun);
        secondReceived = _received.AsSpan(0, count - firstRun);
    }

    /// <summary>Copies <paramref name="destination"/>.Length readings starting at logical index <paramref name="start"/>, oldest first.</summary>
    public void CopyTo(int start, Span<GpuSample> destination)
    {
        if (destination.IsEmpty)
        {
            return;
        }

        var first = Physical(start);
        var firstRun = Math.Min(destination.Length, _items.Length - first);
        _items.AsSpan(first, firstRun).CopyTo(destination);
        if (firstRun < destination.Length)
        {
            _items.AsSpan(0, destination.Length - firstRun).CopyTo(destination[firstRun..]);
        }
    }

    private int Physical(int logical)
    {
        var i = _head + logical;
        return i >= _items.Length ? i - _items.Length : i;
    }
}
