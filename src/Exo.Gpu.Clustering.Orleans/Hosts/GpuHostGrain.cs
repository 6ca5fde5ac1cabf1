using Orleans.Concurrency;
using Orleans.Placement;

namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>
/// The front of one GPU host: placed only on that host's silo, immovable, reentrant, and never calling itself or
/// another grain. Every call is answered by the silo's <see cref="GpuHostRuntime"/> (its lease table over its own
/// manager): authority lives in the host process, never in an activation, so a duplicate activation changes nothing.
/// </summary>
[Reentrant]
[Immovable]
[GpuHostPlacement]
internal sealed class GpuHostGrain(GpuHostRuntime runtime) : Grain, IGpuHostGrain
{
    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // [Immovable] still lets user code migrate an activation: refuse to front another host's GPUs.
        var key = this.GetPrimaryKeyString();
        return string.Equals(key, runtime.HostId, StringComparison.Ordinal)
            ? Task.CompletedTask
            : throw new InvalidOperationException($"The host grain '{key}' may activate only on GPU host '{key}', not on '{runtime.HostId}'.");
    }

    public Task<HostReserveResult> ReserveAsync(string requestId, long memoryBytes, int deviceCount, bool allowDegraded, TimeSpan ttl, bool prepare, string[]? excludeDevices = null)
    {
        runtime.RevokeIfCutOff();
        // The caller excludes devices cluster-wide; the host's selector knows only its own.
        var mine = excludeDevices?.Where(uuid => runtime.Manager.Devices.Any(d => string.Equals(d.Uuid, uuid, StringComparison.Ordinal))).ToArray();
        var (grant, refusal, existing) = runtime.Table.Reserve(requestId, memoryBytes, deviceCount, allowDegraded, ttl, prepare, mine is { Length: > 0 } ? mine : null);
        // A refusal carries the host's report so the caller replans on fresh numbers; a grant needs none.
        return Task.FromResult(new HostReserveResult { Grant = grant, Refusal = refusal, Existing = existing, Report = grant is null ? runtime.BuildReport() : null });
    }

    public Task<HostLeaseStatus> CommitAsync(string requestId, TimeSpan ttl)
    {
        runtime.RevokeIfCutOff();
        return Task.FromResult(runtime.Table.Commit(requestId, ttl));
    }

    public Task<HostLeaseStatus[]> RenewAsync(string[] requestIds, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(requestIds);
        runtime.RevokeIfCutOff();
        var table = runtime.Table;
        var statuses = new HostLeaseStatus[requestIds.Length];
        for (var i = 0; i < requestIds.Length; i++)
        {
            statuses[i] = table.Renew(requestIds[i], ttl);
        }

        return Task.FromResult(statuses);
    }

    public Task<ClusterReleaseResult> ReleaseAsync(string requestId) => Task.FromResult(runtime.Table.Release(requestId));

    public Task<bool> AbortAsync(string requestId) => Task.FromResult(runtime.Table.Abort(requestId));

    public Task<GpuHostReport> GetReportAsync() => Task.FromResult(runtime.BuildReport());
}
