using Exo.Gpu.Clustering.Scheduling;

namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>Reserves capacity now on the host's own selector, or says no (never waits).</summary>
internal delegate bool TryAcquireLease(GpuRequest request, out GpuLease lease);

/// <summary>
/// The authoritative cluster leases of one host, keyed by the caller's request id, over the host's own selector.
/// A request id maps to at most one live lease; once it ends (released, revoked or expired) the id is final and is
/// remembered (bounded) so late retries and releases are answered truthfully. Every lease has an expiry on the
/// monotonic clock that renews move on; <see cref="ExpireDue"/> ends the overdue ones. Every grant ends exactly once,
/// as released, revoked or expired: granted = released + revoked + expired + live.
/// </summary>
internal sealed class HostLeaseTable
{
    /// <summary>Guards every field below.</summary>
    private readonly Lock _gate = new();

    /// <summary>Live leases by request id.</summary>
    private readonly Dictionary<string, Entry> _live = new(StringComparer.Ordinal);

    /// <summary>Ended request ids and how they ended, at most <see cref="_retention"/>, oldest first in <see cref="_endedOrder"/>.</summary>
    private readonly Dictionary<string, HostLeaseStatus> _ended = new(StringComparer.Ordinal);

    /// <summary>Ended request ids in the order they ended.</summary>
    private readonly Queue<string> _endedOrder = new();

    /// <summary>The host's selector.</summary>
    private readonly TryAcquireLease _acquire;

    /// <summary>The monotonic clock of expiries.</summary>
    private readonly TimeProvider _time;

    /// <summary>How many ended ids to remember.</summary>
    private readonly int _retention;

    /// <summary>The longest TTL granted.</summary>
    private readonly TimeSpan _maxTtl;

    /// <summary>Grants so far; the next fence's sequence is one more.</summary>
    private long _granted;

    /// <summary>Leases released by their holders or aborted.</summary>
    private long _released;

    /// <summary>Leases revoked by the host.</summary>
    private long _revoked;

    /// <summary>Leases expired.</summary>
    private long _expired;

    /// <summary>Why the table refuses new grants (stopping, declared dead); <see langword="null"/> while open.</summary>
    private string? _closedReason;

    public HostLeaseTable(GpuHostIdentity host, TryAcquireLease acquire, TimeProvider time, TimeSpan maxTtl, int retention)
    {
        Host = host;
        _acquire = acquire;
        _time = time;
        _maxTtl = maxTtl;
        _retention = retention;
    }

    /// <summary>The host this table belongs to.</summary>
    public GpuHostIdentity Host { get; }

    /// <summary>Raised (outside the lock) when a lease ends by revocation or expiry, with its request id.</summary>
    public event Action<string, HostLeaseStatus>? Ended;

    /// <summary>Reserves a part for <paramref name="requestId"/> (never on a device in <paramref name="excludeDevices"/>), or returns the live one a retry finds.</summary>
    public (ClusterLeasePart? Grant, string? Refusal, bool Existing) Reserve(string requestId, long memoryBytes, int deviceCount, bool allowDegraded, TimeSpan ttl, bool prepare, IReadOnlyList<string>? excludeDevices = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        ArgumentOutOfRangeException.ThrowIfNegative(memoryBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(deviceCount, 1);
        Entry? entry;
        lock (_gate)
        {
            if (ttl > _maxTtl)
            {
                // Cutting it would leave the holder trusting a lease this host expires sooner: refuse, say why.
                return (null, $"{Host} grants a TTL of at most {_maxTtl} (MaxLeaseTtl), asked for {ttl}", false);
            }

            if (_live.TryGetValue(requestId, out var existing))
            {
                if (existing.MemoryBytes != memoryBytes || existing.Part.DeviceUuids.Count != deviceCount)
                {
                    return (null, $"request '{requestId}' already holds {existing.Part} on {Host}, a different lease", false);
                }

                if (Deadline(ttl) > existing.ExpiresAt)
                {
                    existing.ExpiresAt = Deadline(ttl);
                    existing.Ttl = Bounded(ttl);
                }

                return (existing.Part, null, true);
            }

            if (_ended.TryGetValue(requestId, out var ended))
            {
                return (null, $"request '{requestId}' already ended on {Host} ({ended}); a request id is final", false);
            }

            if (_closedReason is { } closed)
            {
                return (null, $"{Host} grants nothing: {closed}", false);
            }

            var request = new GpuRequest { MemoryBytes = memoryBytes, DeviceCount = deviceCount, AllowDegraded = allowDegraded, ExcludeUuids = excludeDevices };
            GpuLease lease;
            try
            {
                if (!_acquire(request, out lease))
                {
                    return (null, $"{Host} has no {deviceCount} device(s) with {ByteSize.Format(memoryBytes)} free now", false);
                }
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or ObjectDisposedException)
            {
                return (null, $"{Host} cannot grant {deviceCount} x {ByteSize.Format(memoryBytes)}: {e.Message}", false);
            }

            _granted++;
            var part = new ClusterLeasePart
            {
                RequestId = requestId,
                Host = Host,
                DeviceUuids = [.. lease.Devices.Select(d => d.Uuid)],
                MemoryBytes = memoryBytes,
                Fence = new GpuFencingToken(Host.Generation, _granted),
            };
            entry = new Entry(requestId, lease, part, memoryBytes) { ExpiresAt = Deadline(ttl), Ttl = Bounded(ttl), Prepared = prepare };
            _live.Add(requestId, entry);

            // A token that has already fired runs the callback at once: it only queues the revocation, outside the lock.
            entry.Registration = lease.Token.UnsafeRegister(
                static state => ThreadPool.UnsafeQueueUserWorkItem(static s => s.Table.End(s.Entry, HostLeaseStatus.Revoked), ((RevokeState)state!), preferLocal: false),
                new RevokeState(this, entry));
        }

        return (entry.Part, null, false);
    }

    /// <summary>Commits a prepared part (idempotent for a committed one), giving it <paramref name="ttl"/>.</summary>
    public HostLeaseStatus Commit(string requestId, TimeSpan ttl)
    {
        lock (_gate)
        {
            if (_live.TryGetValue(requestId, out var entry))
            {
                entry.Prepared = false;
                entry.ExpiresAt = Deadline(ttl);
                entry.Ttl = Bounded(ttl);
                return HostLeaseStatus.Held;
            }

            return _ended.TryGetValue(requestId, out var ended) ? ended : HostLeaseStatus.Unknown;
        }
    }

    /// <summary>Moves the expiry of a live lease to now + <paramref name="ttl"/>; says how an ended one ended.</summary>
    public HostLeaseStatus Renew(string requestId, TimeSpan ttl)
    {
        lock (_gate)
        {
            if (_live.TryGetValue(requestId, out var entry))
            {
                if (!entry.Prepared)
                {
                    entry.ExpiresAt = Deadline(ttl);
                    entry.Ttl = Bounded(ttl);
                }

                return HostLeaseStatus.Held;
            }

            return _ended.TryGetValue(requestId, out var ended) ? ended : HostLeaseStatus.Unknown;
        }
    }

    /// <summary>Releases a lease: idempotent and final.</summary>
    public ClusterReleaseResult Release(string requestId)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_live.TryGetValue(requestId, out entry))
            {
                return _ended.ContainsKey(requestId) ? ClusterReleaseResult.AlreadyReleased : ClusterReleaseResult.Unknown;
            }
        }

        return End(entry, HostLeaseStatus.Released) ? ClusterReleaseResult.Released : ClusterReleaseResult.AlreadyReleased;
    }

    /// <summary>Ends a live lease as released and forgets its id, so the id may be prepared again (a gang's abort).</summary>
    public bool Abort(string requestId)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_live.TryGetValue(requestId, out entry))
            {
                return false;
            }
        }

        return End(entry, HostLeaseStatus.Released, remember: false);
    }

    /// <summary>Ends every lease past its expiry; returns how many.</summary>
    public int ExpireDue()
    {
        List<Entry>? due = null;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            foreach (var entry in _live.Values)
            {
                if (entry.ExpiresAt <= now)
                {
                    (due ??= []).Add(entry);
                }
            }
        }

        var count = 0;
        foreach (var entry in due ?? [])
        {
            count += End(entry, HostLeaseStatus.Expired) ? 1 : 0;
        }

        return count;
    }

    /// <summary>Refuses every new grant from now on and revokes every live lease (host stopping or declared dead).</summary>
    public int RevokeAll(string reason)
    {
        List<Entry> live;
        lock (_gate)
        {
            _closedReason ??= reason;
            live = [.. _live.Values];
        }

        var count = 0;
        foreach (var entry in live)
        {
            count += End(entry, HostLeaseStatus.Revoked) ? 1 : 0;
        }

        return count;
    }

    /// <summary>
    /// Revokes every live lease whose TTL is shorter than <paramref name="isolation"/>, the time the host has gone
    /// without reaching the membership table: the cluster may have declared it dead and given the work elsewhere, so
    /// no lease outlives its TTL unconfirmed. The table stays open (grants resume once the table is reached again).
    /// </summary>
    /// <returns>How many leases were revoked.</returns>
    public int RevokeIsolated(TimeSpan isolation)
    {
        List<Entry>? due = null;
        lock (_gate)
        {
            foreach (var entry in _live.Values)
            {
                if (entry.Ttl < isolation)
                {
                    (due ??= []).Add(entry);
                }
            }
        }

        var count = 0;
        foreach (var entry in due ?? [])
        {
            count += End(entry, HostLeaseStatus.Revoked) ? 1 : 0;
        }

        return count;
    }

    /// <summary>The counters now: granted, released, revoked, expired, live.</summary>
    public (long Granted, long Released, long Revoked, long Expired, int Live) Counters()
    {
        lock (_gate)
        {
            return (_granted, _released, _revoked, _expired, _live.Count);
        }
    }

    /// <summary>Whether <paramref name="requestId"/> is live, and its part.</summary>
    public ClusterLeasePart? Find(string requestId)
    {
        lock (_gate)
        {
            return _live.TryGetValue(requestId, out var entry) ? entry.Part : null;
        }
    }

    /// <summary>Ends <paramref name="entry"/> once: the first caller counts it and releases the local lease.</summary>
    private bool End(Entry entry, HostLeaseStatus how, bool remember = true)
    {
        lock (_gate)
        {
            if (!_live.TryGetValue(entry.RequestId, out var current) || !ReferenceEquals(current, entry))
            {
                return false;
            }

            _live.Remove(entry.RequestId);
            switch (how)
            {
                case HostLeaseStatus.Released: _released++; break;
                case HostLeaseStatus.Revoked: _revoked++; break;
                default: _expired++; break;
            }

            if (remember)
            {
                _ended[entry.RequestId] = how;
                _endedOrder.Enqueue(entry.RequestId);
                while (_endedOrder.Count > _retention)
                {
                    _ended.Remove(_endedOrder.Dequeue());
                }
            }
        }

        entry.Registration.Dispose();
        entry.Lease.Dispose();
        if (how is HostLeaseStatus.Revoked or HostLeaseStatus.Expired)
        {
            Ended?.Invoke(entry.RequestId, how);
        }

        return true;
    }

    private long Deadline(TimeSpan ttl) => _time.GetTimestamp() + (long)(Bounded(ttl).TotalSeconds * _time.TimestampFrequency);

    /// <summary><paramref name="ttl"/> within 0 and the longest TTL granted (a renew asking for more gets the most).</summary>
    private TimeSpan Bounded(TimeSpan ttl) => ttl <= TimeSpan.Zero ? TimeSpan.Zero : ttl > _maxTtl ? _maxTtl : ttl;

    /// <summary>What a revocation callback needs.</summary>
    private sealed record RevokeState(HostLeaseTable Table, Entry Entry);

    /// <summary>One live lease.</summary>
    private sealed class Entry(string requestId, GpuLease lease, ClusterLeasePart part, long memoryBytes)
    {
        public string RequestId { get; } = requestId;

        public GpuLease Lease { get; } = lease;

        public ClusterLeasePart Part { get; } = part;

        public long MemoryBytes { get; } = memoryBytes;

        /// <summary>When it expires, on the monotonic clock (guarded by the table's lock).</summary>
        public long ExpiresAt { get; set; }

        /// <summary>The TTL of its last grant, commit or renew (guarded by the table's lock).</summary>
        public TimeSpan Ttl { get; set; }

        /// <summary>Whether it is a gang part not yet committed (renews do not extend it).</summary>
        public bool Prepared { get; set; }

        public CancellationTokenRegistration Registration { get; set; }
    }
}
