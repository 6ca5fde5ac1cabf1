namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>What a host answers a reserve: the grant, or why not with a fresh report so the caller replans.</summary>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.reserve-result")]
internal sealed class HostReserveResult
{
    /// <summary>The grant; <see langword="null"/> when refused.</summary>
    [Id(0)]
    public ClusterLeasePart? Grant { get; init; }

    /// <summary>Why the host refused; <see langword="null"/> when granted.</summary>
    [Id(1)]
    public string? Refusal { get; init; }

    /// <summary>The host's report after a refusal; <see langword="null"/> with a grant.</summary>
    [Id(2)]
    public GpuHostReport? Report { get; init; }

    /// <summary>Whether the grant existed before this call (a retried reserve).</summary>
    [Id(3)]
    public bool Existing { get; init; }
}

/// <summary>What a host says about a lease at a renew.</summary>
[GenerateSerializer]
internal enum HostLeaseStatus
{
    /// <summary>Held; its expiry moved on.</summary>
    Held = 0,

    /// <summary>Released by its holder (or aborted).</summary>
    Released = 1,

    /// <summary>Revoked by the host.</summary>
    Revoked = 2,

    /// <summary>Expired: no renew arrived within its TTL.</summary>
    Expired = 3,

    /// <summary>The host never granted it (or forgot it long ago).</summary>
    Unknown = 4,
}
