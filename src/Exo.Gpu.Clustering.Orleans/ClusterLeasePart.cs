namespace Exo.Gpu.Clustering.Orleans;

/// <summary>The part of a cluster lease held on one host: its devices and its fencing token.</summary>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.lease-part")]
public sealed class ClusterLeasePart
{
    /// <summary>The host that granted the part, and its generation.</summary>
    [Id(0)]
    public GpuHostIdentity Host { get; init; }

    /// <summary>The UUIDs of the part's devices on that host.</summary>
    [Id(1)]
    public required IReadOnlyList<string> DeviceUuids { get; init; }

    /// <summary>Memory reserved on each device, in bytes.</summary>
    [Id(2)]
    public long MemoryBytes { get; init; }

    /// <summary>The part's fencing token: larger than that of every earlier grant of the host.</summary>
    [Id(3)]
    public GpuFencingToken Fence { get; init; }

    /// <summary>
    /// The id the host holds the part under: the lease's request id, with the round appended for the replacement parts
    /// of an elastic lease (<see cref="IClusterGpuPool.ReacquireAsync"/>).
    /// </summary>
    [Id(4)]
    public required string RequestId { get; init; }

    /// <summary>Formats as <c>host@generation [uuids] fence</c>.</summary>
    public override string ToString() => $"{Host} [{string.Join(", ", DeviceUuids)}] {ByteSize.Format(MemoryBytes)} fence {Fence}";
}
