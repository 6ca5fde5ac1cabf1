namespace Exo.Gpu.Clustering.Orleans.Directory;

/// <summary>
/// The cluster's directory of GPU hosts: soft state only. Hosts publish reports; reports expire; hosts membership shows
/// gone are dropped. It also settles who holds a host id, so two silos cannot claim one.
/// </summary>
[Alias("exo.gpu.IGpuDirectoryGrain")]
internal interface IGpuDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Takes a host's report (an older one than it holds is ignored).</summary>
    [Alias("report")]
    Task ReportAsync(GpuHostReport report);

    /// <summary>Claims a host id for a silo; returns why not, or <see langword="null"/> when granted.</summary>
    [Alias("claim")]
    Task<string?> ClaimAsync(GpuHostIdentity host, string silo);

    /// <summary>Drops a host's report (the host is stopping).</summary>
    [Alias("remove")]
    Task RemoveAsync(GpuHostIdentity host);

    /// <summary>The live hosts and the departed ones.</summary>
    [Alias("view")]
    Task<ClusterGpuView> GetViewAsync();
}
