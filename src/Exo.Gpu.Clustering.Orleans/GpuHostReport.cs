namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// What a host publishes to the directory every report interval: its devices, their health and free capacity after
/// reservations, its leases and its counters. Soft state: a report older than <see cref="ValidFor"/> is dropped.
/// </summary>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.host-report")]
public sealed class GpuHostReport
{
    /// <summary>The host and its generation.</summary>
    [Id(0)]
    public GpuHostIdentity Host { get; init; }

    /// <summary>The report's number within the generation, from 1: a report never replaces a newer one.</summary>
    [Id(1)]
    public long Sequence { get; init; }

    /// <summary>The address of the host's silo, formatted by Orleans.</summary>
    [Id(2)]
    public required string Silo { get; init; }

    /// <summary>The host's devices.</summary>
    [Id(3)]
    public required IReadOnlyList<GpuHostDeviceReport> Devices { get; init; }

    /// <summary>Cluster leases held on the host (prepared or committed).</summary>
    [Id(4)]
    public int ActiveLeases { get; init; }

    /// <summary>Requests waiting on the host's own selector.</summary>
    [Id(5)]
    public int Waiters { get; init; }

    /// <summary>Cluster leases granted by this generation of the host.</summary>
    [Id(6)]
    public long Granted { get; init; }

    /// <summary>Cluster leases released by their holders (or aborted before commit).</summary>
    [Id(7)]
    public long Released { get; init; }

    /// <summary>Cluster leases revoked by the host (device lost or unhealthy, host stopping or declared dead).</summary>
    [Id(8)]
    public long Revoked { get; init; }

    /// <summary>Cluster leases that expired because their holder stopped renewing them.</summary>
    [Id(9)]
    public long Expired { get; init; }

    /// <summary>How long the directory keeps the report without a newer one.</summary>
    [Id(10)]
    public TimeSpan ValidFor { get; init; }
}
