using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The selector's view of one device set (one <see cref="Telemetry.IDeviceStateSource.Version"/>): the devices by slot,
/// their capacities for leases and what selection derives from them once. Immutable: a new table is built when the
/// version changes (slots are stable across versions, so the lease ledger's per-slot accounting carries over).
/// </summary>
internal sealed class SlotTable
{
    public SlotTable(int version, IReadOnlyList<GpuDevice> devices, long headroomBytes)
    {
        Version = version;
        HeadroomBytes = headroomBytes;
        Devices = [.. devices];
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
    }

    /// <summary>The source version this table reflects.</summary>
    public int Version { get; }

    /// <summary>Bytes kept free on every device (<see cref="DeviceSelectorOptions.MemoryHeadroomBytes"/>).</summary>
    public long HeadroomBytes { get; }

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

    /// <summary>How many devices (slots) the table has.</summary>
    public int Count => Devices.Length;

    /// <summary>The slot of <paramref name="device"/> (by UUID), or -1 when the table does not have it.</summary>
    public int SlotOf(GpuDevice device) => SlotByUuid.TryGetValue(device.Uuid, out var slot) ? slot : -1;
}
