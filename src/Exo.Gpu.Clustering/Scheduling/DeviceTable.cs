using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The selector's view of one device set (one <see cref="Telemetry.IDeviceStateSource.Version"/>): the devices by slot,
/// their capacities, and the lease accounting. A new table is built when the version changes; the accounting arrays
/// are carried over slot by slot. The accounting is mutated only under the selector's lock and read without it
/// (through <see cref="Volatile"/>) by selections that take no lease.
/// </summary>
internal sealed class DeviceTable
{
    public DeviceTable(int version, IReadOnlyList<GpuDevice> devices, long headroomBytes, DeviceTable? previous)
    {
        Version = version;
        Devices = [.. devices];
        var slots = Math.Max(Devices.Length, previous?.Reserved.Length ?? 0);
        Capacity = new long[Devices.Length];
        Singles = new IReadOnlyList<GpuDevice>[Devices.Length];
        SlotByUuid = new Dictionary<string, int>(Devices.Length, StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < Devices.Length; i++)
        {
            Capacity[i] = Math.Max(0, Devices[i].TotalMemoryBytes - headroomBytes);
            MaxCapacity = Math.Max(MaxCapacity, Capacity[i]);
            Singles[i] = new[] { Devices[i] }.AsReadOnly();
            SlotByUuid.TryAdd(Devices[i].Uuid, i);
        }

        InverseMaxCapacity = MaxCapacity > 0 ? 1.0 / MaxCapacity : 0;
        Reserved = new long[slots];
        Leases = new int[slots];
        DeviceCts = new CancellationTokenSource?[slots];
        if (previous is not null)
        {
            previous.Reserved.CopyTo(Reserved, 0);
            previous.Leases.CopyTo(Leases, 0);
            previous.DeviceCts.CopyTo(DeviceCts, 0);
        }
    }

    /// <summary>The source version this table reflects.</summary>
    public int Version { get; }

    /// <summary>The devices by slot.</summary>
    public GpuDevice[] Devices { get; }

    /// <summary>Per slot: total memory minus the headroom, at least 0.</summary>
    public long[] Capacity { get; }

    /// <summary>The largest capacity (the free-memory score's denominator).</summary>
    public long MaxCapacity { get; }

    /// <summary>1 / <see cref="MaxCapacity"/> (0 when it is 0).</summary>
    public double InverseMaxCapacity { get; }

    /// <summary>Per slot: a one-device list, shared by every single-device lease on it (so granting one allocates nothing).</summary>
    public IReadOnlyList<GpuDevice>[] Singles { get; }

    /// <summary>UUID to slot, ignoring case.</summary>
    public Dictionary<string, int> SlotByUuid { get; }

    /// <summary>Per slot: bytes reserved by active leases (revoked ones included until released).</summary>
    public long[] Reserved { get; }

    /// <summary>Per slot: active leases (revoked ones included until released).</summary>
    public int[] Leases { get; }

    /// <summary>
    /// Per slot: the source of the token shared by every single-device lease granted on the device since its last
    /// revocation; created on first use, cancelled and cleared when the device's leases are revoked.
    /// </summary>
    public CancellationTokenSource?[] DeviceCts { get; }

    public int Count => Devices.Length;

    public int SlotOf(GpuDevice device)
    {
        if (SlotByUuid.TryGetValue(device.Uuid, out var slot))
        {
            return slot;
        }

        return -1;
    }
}
