namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// A lease on devices of one or several hosts, under the caller's request id. Release it with
/// <see cref="ReleaseAsync"/> or <see cref="DisposeAsync"/> (idempotent and final). The pool renews it on an
/// interval; <see cref="Token"/> fires when it can no longer be trusted: a host's silo died or is stopping, a device
/// was lost or became unhealthy (the host revoked the part), no renew was confirmed before the holder deadline (which
/// comes before the host's own expiry), or the pool shut down. Stop the work when it fires. A revoked gang releases its
/// surviving parts, unless it was requested <see cref="ClusterGpuRequest.Elastic"/>: then the pool keeps renewing them,
/// <see cref="LostParts"/> says what was lost, and <see cref="IClusterGpuPool.ReacquireAsync"/> replaces only that.
/// </summary>
public sealed class ClusterLease : IAsyncDisposable
{
    /// <summary>Fires on revocation; its timer is the holder deadline, moved on at every confirmed renew.</summary>
    private readonly CancellationTokenSource _revoked;

    /// <summary>The deadline measured from each confirmed renew.</summary>
    private readonly TimeSpan _holderDeadline;

    /// <summary>The clock of the deadline.</summary>
    private readonly TimeProvider _time;

    /// <summary>Releases the parts on their hosts (the pool's).</summary>
    private readonly Func<ClusterLease, CancellationToken, Task<ClusterReleaseResult>> _release;

    /// <summary>1 once released (by the holder).</summary>
    private int _released;

    /// <summary>Why the token fired; <see langword="null"/> while it has not.</summary>
    private string? _reason;

    /// <summary>The parts lost to a host loss, in the order they were lost (copy on write).</summary>
    private ClusterLeasePart[] _lost = [];

    internal ClusterLease(ClusterGpuRequest request, IReadOnlyList<ClusterLeasePart> parts, int round, TimeProvider time, TimeSpan holderDeadline, Func<ClusterLease, CancellationToken, Task<ClusterReleaseResult>> release)
    {
        Request = request;
        RequestId = request.RequestId;
        Parts = parts;
        Round = round;
        _time = time;
        _holderDeadline = holderDeadline;
        _release = release;
        _revoked = new CancellationTokenSource(holderDeadline, time);
        _revoked.Token.UnsafeRegister(static state => Interlocked.CompareExchange(ref ((ClusterLease)state!)._reason, "the holder deadline passed without a confirmed renew", null), this);
    }

    /// <summary>The caller's request id.</summary>
    public string RequestId { get; }

    /// <summary>
    /// The parts, in the order they were granted: one per host, except after <see cref="IClusterGpuPool.ReacquireAsync"/>,
    /// whose replacements follow the surviving parts and may share a host with one.
    /// </summary>
    public IReadOnlyList<ClusterLeasePart> Parts { get; }

    /// <summary>
    /// The parts lost to a host loss (its silo died or is stopping, or it ended the part: a lost or unhealthy device, a
    /// cut from membership): empty while nothing is lost. The others are still held only for an
    /// <see cref="ClusterGpuRequest.Elastic"/> lease.
    /// </summary>
    public IReadOnlyList<ClusterLeasePart> LostParts => Volatile.Read(ref _lost);

    /// <summary>Every device of the lease, as (host, UUID), host by host.</summary>
    public int DeviceCount => Parts.Sum(p => p.DeviceUuids.Count);

    /// <summary>Fires when the lease can no longer be trusted (see the type's remarks); never fires after a release.</summary>
    public CancellationToken Token => _revoked.Token;

    /// <summary>Why <see cref="Token"/> fired; <see langword="null"/> while it has not.</summary>
    public string? RevocationReason => Volatile.Read(ref _reason);

    /// <summary>Whether the holder has released the lease.</summary>
    public bool IsReleased => Volatile.Read(ref _released) != 0;

    /// <summary>Releases every part on its host: idempotent and final (the request id cannot be granted again).</summary>
    /// <param name="cancellationToken">Stops waiting for the hosts (the parts then expire on their hosts).</param>
    /// <returns><see cref="ClusterReleaseResult.Released"/> when this call released the lease, <see cref="ClusterReleaseResult.AlreadyReleased"/> when it had already ended.</returns>
    public Task<ClusterReleaseResult> ReleaseAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return Task.FromResult(ClusterReleaseResult.AlreadyReleased);
        }

        StopDeadline();
        return _release(this, cancellationToken);
    }

    /// <summary>Releases the lease, like <see cref="ReleaseAsync"/>.</summary>
    /// <returns>A task that completes once the hosts answered (or the pool's call timeout passed).</returns>
    public async ValueTask DisposeAsync() => await ReleaseAsync(CancellationToken.None).ConfigureAwait(false);

    /// <summary>Formats as <c>request: parts</c>.</summary>
    public override string ToString() => $"{RequestId}: {string.Join("; ", Parts)}";

    /// <summary>What was asked for (an elastic lease's replacements ask for the same).</summary>
    internal ClusterGpuRequest Request { get; }

    /// <summary>How many times the lease was re-acquired: 0 for the first grant.</summary>
    internal int Round { get; }

    /// <summary>Its re-acquisition under way or done (guarded by the pool's lock).</summary>
    internal Task<ClusterLease>? Reacquiring { get; set; }

    /// <summary>The parts not lost.</summary>
    internal IReadOnlyList<ClusterLeasePart> HeldParts => Volatile.Read(ref _lost) is { Length: > 0 } lost ? [.. Parts.Except(lost)] : Parts;

    /// <summary>Whether the pool keeps renewing what survives: an elastic lease, revoked, not yet released or re-acquired.</summary>
    internal bool KeepsSurvivors => Request.Elastic && !IsReleased && _revoked.IsCancellationRequested;

    /// <summary>Records <paramref name="part"/> as lost; false when it already was.</summary>
    internal bool MarkLost(ClusterLeasePart part)
    {
        while (true)
        {
            var lost = Volatile.Read(ref _lost);
            if (lost.Contains(part))
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _lost, [.. lost, part], lost) == lost)
            {
                return true;
            }
        }
    }

    /// <summary>Ends this lease without releasing its parts, which a re-acquired lease now holds; false when it was already released.</summary>
    internal bool Supersede()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return false;
        }

        StopDeadline();
        return true;
    }

    /// <summary>Fires the token with a reason (the first reason wins); does nothing once released.</summary>
    internal bool Revoke(string reason)
    {
        if (IsReleased || _revoked.IsCancellationRequested)
        {
            return false;
        }

        Interlocked.CompareExchange(ref _reason, reason, null);
        try
        {
            _revoked.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        return true;
    }

    /// <summary>A renew sent at <paramref name="sentAt"/> was confirmed by every host: the deadline moves on.</summary>
    internal void Renewed(long sentAt)
    {
        var remaining = _holderDeadline - _time.GetElapsedTime(sentAt);
        if (remaining > TimeSpan.Zero && !IsReleased && !_revoked.IsCancellationRequested)
        {
            try
            {
                _revoked.CancelAfter(remaining);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    /// <summary>Whether the lease is neither released nor revoked.</summary>
    internal bool IsLive => !IsReleased && !_revoked.IsCancellationRequested;

    private void StopDeadline()
    {
        try
        {
            _revoked.CancelAfter(Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
