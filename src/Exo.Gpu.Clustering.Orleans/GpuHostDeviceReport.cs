using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Orleans;

/// <summary>One device of a host, as its host last reported it.</summary>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.host-device-report")]
public sealed class GpuHostDeviceReport
{
    /// <summary>The device's UUID.</summary>
    [Id(0)]
    public required string Uuid { get; init; }

    /// <summary>The device's index on its host.</summary>
    [Id(1)]
    public int Index { get; init; }

    /// <summary>The device's name.</summary>
    [Id(2)]
    public required string Name { get; init; }

    /// <summary>The device's health on its host.</summary>
    [Id(3)]
    public GpuHealth Health { get; init; }

    /// <summary>The device's total memory, in bytes.</summary>
    [Id(4)]
    public long TotalMemoryBytes { get; init; }

    /// <summary>What leases may reserve on the device, in bytes (total less the selector's headroom).</summary>
    [Id(5)]
    public long CapacityBytes { get; init; }

    /// <summary>What is left to reserve after the reservations, in bytes.</summary>
    [Id(6)]
    public long FreeBytes { get; init; }

    /// <summary>Leases held on the device.</summary>
    [Id(7)]
    public int ActiveLeases { get; init; }

    /// <summary>Requests waiting for the device.</summary>
    [Id(8)]
    public int Waiters { get; init; }
}
