namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>The lease accounting of a <see cref="DeviceSelector"/> at one moment, taken under its lock (consistent).</summary>
public sealed class GpuLeaseSnapshot
{
    internal GpuLeaseSnapshot(IReadOnlyList<GpuDeviceLeaseState> devices, long granted, long released, long revoked, int activeLeases, int waiters)
    {
        Devices = devices;
        Granted = granted;
        Released = released;
        Revoked = revoked;
        ActiveLeases = activeLeases;
        Waiters = waiters;
    }

    /// <summary>Every device, by slot.</summary>
    public IReadOnlyList<GpuDeviceLeaseState> Devices { get; }

    /// <summary>Leases granted since the selector was created.</summary>
    public long Granted { get; }

    /// <summary>Leases released by their holders before being revoked.</summary>
    public long Released { get; }

    /// <summary>
    /// Leases revoked (device lost or unhealthy, or shutdown). Counted when revoked; a revoked lease still holds its
    /// reservation until its holder releases it. At rest, <see cref="Granted"/> = <see cref="Released"/> + <see cref="Revoked"/>.
    /// </summary>
    public long Revoked { get; }

    /// <summary>Leases not yet released (revoked ones included).</summary>
    public int ActiveLeases { get; }

    /// <summary>Requests waiting in <see cref="DeviceSelector.AcquireAsync(GpuRequest, CancellationToken)"/>.</summary>
    public int Waiters { get; }
}
