using Exo.Gpu.Clustering.Orleans.Hosts;

namespace Exo.Gpu.Clustering.Orleans.Pool;

/// <summary>The pool's two loops: renewing what it holds, and watching the directory for departed hosts.</summary>
internal sealed partial class ClusterGpuPool
{
    /// <summary>The leases to renew and watch: live ones, and elastic ones that keep their survivors.</summary>
    private List<ClusterLease> TrackedLeases()
    {
        lock (_gate)
        {
            return [.. _requests.Values.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result).Where(l => l.IsLive || l.KeepsSurvivors)];
        }
    }

    /// <summary>
    /// Renews held leases, and watches the directory for departed hosts, once per renew interval each, in two loops:
    /// a renew that hangs on a dead host never delays the departure watch.
    /// </summary>
    private Task MonitorAsync(CancellationToken stop) => Task.WhenAll(
        LoopAsync(RenewOnceAsync, "renew", stop),
        LoopAsync(WatchOnceAsync, "watch", stop));

    private async Task LoopAsync(Func<CancellationToken, Task> once, string what, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.RenewInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                try
                {
                    await once(stop).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    LogCallFailed("the cluster", what, e);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task RenewOnceAsync(CancellationToken stop)
    {
        var work = TrackedLeases().Select(l => (Lease: l, Parts: l.HeldParts)).ToList();
        if (work.Count == 0)
        {
            return;
        }

        var sentAt = _time.GetTimestamp();
        var statuses = await RenewPartsAsync([.. work.SelectMany(w => w.Parts)], stop).ConfigureAwait(false);
        foreach (var (lease, parts) in work)
        {
            var confirmed = 0;
            foreach (var part in parts)
            {
                if (!statuses.TryGetValue(part, out var status))
                {
                    continue; // no answer: the holder deadline runs on
                }

                if (status == HostLeaseStatus.Held)
                {
                    confirmed++;
                }
                else if (status == HostLeaseStatus.Released && !lease.Request.Elastic && !lease.IsLive)
                {
                    // A survivor of a revoked gang that the pool itself released: not lost to anything.
                }
                else
                {
                    Lost(lease, part, $"host '{part.Host.HostId}' says the lease is {status}");
                }
            }

            if (confirmed == parts.Count)
            {
                lease.Renewed(sentAt);
            }
        }
    }

    /// <summary>Renews parts on their hosts, one call per host; the parts of a host that does not answer are left out.</summary>
    private async Task<Dictionary<ClusterLeasePart, HostLeaseStatus>> RenewPartsAsync(IReadOnlyList<ClusterLeasePart> parts, CancellationToken cancellationToken)
    {
        var statuses = new Dictionary<ClusterLeasePart, HostLeaseStatus>(ReferenceEqualityComparer.Instance);
        await Task.WhenAll(parts.GroupBy(p => p.Host.HostId, StringComparer.Ordinal).Select(async group =>
        {
            var batch = group.ToArray();
            try
            {
                var answers = await Host(group.Key).RenewAsync([.. batch.Select(p => p.RequestId)], _options.LeaseTtl).WaitAsync(_options.CallTimeout, cancellationToken).ConfigureAwait(false);
                lock (statuses)
                {
                    for (var i = 0; i < batch.Length; i++)
                    {
                        statuses[batch[i]] = answers[i];
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogCallFailed(group.Key, "renew", e);
            }
        })).ConfigureAwait(false);
        return statuses;
    }

    private async Task WatchOnceAsync(CancellationToken stop)
    {
        var tracked = TrackedLeases();
        if (tracked.Count == 0)
        {
            return;
        }

        var view = await FetchViewAsync(stop).ConfigureAwait(false);
        var departed = view.Departed.ToHashSet();
        foreach (var lease in tracked)
        {
            foreach (var part in lease.HeldParts.Where(p => departed.Contains(p.Host)))
            {
                Lost(lease, part, $"host {part.Host} departed: membership shows its silo dead or stopping");
            }
        }
    }

    /// <summary>
    /// A part is lost: the lease's token fires (the first reason wins); a gang that is not elastic releases its
    /// surviving parts (the holder's own release then finds them released), an elastic one keeps them renewed.
    /// </summary>
    private void Lost(ClusterLease lease, ClusterLeasePart part, string reason)
    {
        lease.MarkLost(part);
        if (lease.Revoke(reason) && !lease.Request.Elastic && lease.Parts.Count > 1)
        {
            _ = Task.WhenAll(lease.Parts.Select(p => ReleaseOnHostAsync(p.Host.HostId, p.RequestId, CancellationToken.None)));
        }
    }
}
