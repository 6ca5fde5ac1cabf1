using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>One device's lease accounting at one moment.</summary>
public sealed class GpuDeviceLeaseState
{
    internal GpuDeviceLeaseState(GpuDevice device, long capacityBytes, long reservedBytes, int activeLeases, int waiters)
    {
        Device = device;
        CapacityBytes = capacityBytes;
        ReservedBytes = reservedBytes;
        ActiveLeases = activeLeases;
        Waiters = waiters;
    }

    /// <summary>The device.</summary>
    public GpuDevice Device { get; }

    /// <summary>Total memory minus the headroom.</summary>
    public long CapacityBytes { get; }

    /// <summary>Bytes reserved by active leases (revoked leases count until their holders release them).</summary>
    public long ReservedBytes { get; }

    /// <summary>Active leases on the device (revoked leases count until their holders release them).</summary>
    public int ActiveLeases { get; }

    /// <summary>
    /// Queued requests this device could serve by their static constraints (include/exclude, name, compute capability,
    /// capacity). The queue itself is one FIFO queue for the whole cluster.
    /// </summary>
    public int Waiters { get; }
}
