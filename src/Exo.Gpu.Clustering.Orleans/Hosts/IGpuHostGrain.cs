namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>
/// The front of one GPU host, keyed by host id and placed only on that host's silo. Every call is answered by that
/// silo's own lease table over its own manager; the grain keeps no authority of its own.
/// </summary>
[Alias("exo.gpu.IGpuHostGrain")]
internal interface IGpuHostGrain : IGrainWithStringKey
{
    /// <summary>Reserves (or, for a retried request id, returns) a lease part, never on a device in <paramref name="excludeDevices"/>.</summary>
    [Alias("reserve")]
    Task<HostReserveResult> ReserveAsync(string requestId, long memoryBytes, int deviceCount, bool allowDegraded, TimeSpan ttl, bool prepare, string[]? excludeDevices = null);

    /// <summary>Commits a prepared part, giving it <paramref name="ttl"/>.</summary>
    [Alias("commit")]
    Task<HostLeaseStatus> CommitAsync(string requestId, TimeSpan ttl);

    /// <summary>Renews leases; one status per id, in order.</summary>
    [Alias("renew")]
    Task<HostLeaseStatus[]> RenewAsync(string[] requestIds, TimeSpan ttl);

    /// <summary>Releases a lease: idempotent and final.</summary>
    [Alias("release")]
    Task<ClusterReleaseResult> ReleaseAsync(string requestId);

    /// <summary>Aborts a prepared part (or any held part): its request id may be prepared again.</summary>
    [Alias("abort")]
    Task<bool> AbortAsync(string requestId);

    /// <summary>The host's report now.</summary>
    [Alias("report")]
    Task<GpuHostReport> GetReportAsync();
}
