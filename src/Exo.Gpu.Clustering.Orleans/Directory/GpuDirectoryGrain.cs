using Orleans.Concurrency;

namespace Exo.Gpu.Clustering.Orleans.Directory;

/// <summary>
/// The directory (key 0): the latest report per host id, dropped when older than the report's validity or when its
/// silo is dead, stopping or shutting down; claims of host ids, settled against membership. Reentrant and never
/// calling itself or a host: hosts push, readers pull. Losing the activation loses nothing that matters: every host
/// reports again within a report interval, and departures are read from membership, not remembered.
/// </summary>
[Reentrant]
internal sealed class GpuDirectoryGrain(IClusterMembershipService membership, IServiceProvider services) : Grain, IGpuDirectoryGrain
{
    /// <summary>The silo's clock (the system clock when none is registered).</summary>
    private readonly TimeProvider time = (TimeProvider?)services.GetService(typeof(TimeProvider)) ?? TimeProvider.System;

    /// <summary>The latest report per host id and when it arrived (monotonic).</summary>
    private readonly Dictionary<string, (GpuHostReport Report, long ReceivedAt)> _reports = new(StringComparer.Ordinal);

    /// <summary>Who holds each host id.</summary>
    private readonly Dictionary<string, (GpuHostIdentity Host, SiloAddress Silo)> _claims = new(StringComparer.Ordinal);

    public Task ReportAsync(GpuHostReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var id = report.Host.HostId;
        if (_claims.TryGetValue(id, out var claim) && claim.Host != report.Host && IsAlive(claim.Silo))
        {
            return Task.CompletedTask; // another live silo holds the id: its reports alone count
        }

        if (_reports.TryGetValue(id, out var held)
            && (held.Report.Host.Generation > report.Host.Generation
                || (held.Report.Host.Generation == report.Host.Generation && held.Report.Sequence >= report.Sequence)))
        {
            return Task.CompletedTask; // stale
        }

        _reports[id] = (report, time.GetTimestamp());
        if (!_claims.ContainsKey(id) && SiloAddress.FromParsableString(report.Silo) is { } silo)
        {
            _claims[id] = (report.Host, silo);
        }

        return Task.CompletedTask;
    }

    public Task<string?> ClaimAsync(GpuHostIdentity host, string silo)
    {
        var address = SiloAddress.FromParsableString(silo);
        if (_claims.TryGetValue(host.HostId, out var claim) && !claim.Silo.Equals(address) && IsAlive(claim.Silo))
        {
            return Task.FromResult<string?>($"GPU host id '{host.HostId}' is already held by silo {claim.Silo} ({claim.Host}); two silos may not claim one host id.");
        }

        _claims[host.HostId] = (host, address);
        return Task.FromResult<string?>(null);
    }

    public Task RemoveAsync(GpuHostIdentity host)
    {
        if (_reports.TryGetValue(host.HostId, out var held) && held.Report.Host == host)
        {
            _reports.Remove(host.HostId);
        }

        return Task.CompletedTask;
    }

    public Task<ClusterGpuView> GetViewAsync()
    {
        var snapshot = membership.CurrentSnapshot;
        var departed = new List<GpuHostIdentity>();
        foreach (var member in snapshot.Members.Values)
        {
            if (member.Status is SiloStatus.Dead or SiloStatus.Stopping or SiloStatus.ShuttingDown)
            {
                departed.Add(new GpuHostIdentity(member.Name, member.SiloAddress.Generation));
            }
        }

        var now = time.GetTimestamp();
        var hosts = new List<GpuHostReport>(_reports.Count);
        List<string>? drop = null;
        foreach (var (id, (report, receivedAt)) in _reports)
        {
            var silo = SiloAddress.FromParsableString(report.Silo);
            var status = snapshot.GetSiloStatus(silo);
            if (status is SiloStatus.Dead or SiloStatus.Stopping or SiloStatus.ShuttingDown)
            {
                (drop ??= []).Add(id);
            }
            else if (time.GetElapsedTime(receivedAt, now) <= report.ValidFor && status == SiloStatus.Active)
            {
                hosts.Add(report);
            }
        }

        foreach (var id in drop ?? [])
        {
            _reports.Remove(id);
        }

        hosts.Sort(static (a, b) => string.CompareOrdinal(a.Host.HostId, b.Host.HostId));
        return Task.FromResult(new ClusterGpuView { Hosts = hosts, Departed = departed });
    }

    private bool IsAlive(SiloAddress silo) => membership.CurrentSnapshot.GetSiloStatus(silo) is not (SiloStatus.Dead or SiloStatus.Stopping or SiloStatus.ShuttingDown);
}
