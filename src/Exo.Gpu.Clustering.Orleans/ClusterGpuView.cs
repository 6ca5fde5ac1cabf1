namespace Exo.Gpu.Clustering.Orleans;

/// <summary>The directory's view of the cluster: the live hosts' latest reports and the hosts membership shows gone.</summary>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.cluster-view")]
public sealed class ClusterGpuView
{
    /// <summary>The latest report of every live host (reports older than their validity, and hosts whose silo is dead or stopping, are left out), by host id.</summary>
    [Id(0)]
    public required IReadOnlyList<GpuHostReport> Hosts { get; init; }

    /// <summary>Hosts whose silo membership shows dead, stopping or shutting down: their leases are gone.</summary>
    [Id(1)]
    public required IReadOnlyList<GpuHostIdentity> Departed { get; init; }
}
