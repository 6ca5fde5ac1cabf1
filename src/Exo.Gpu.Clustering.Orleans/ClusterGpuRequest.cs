namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// What a cluster lease needs: a request id the caller chooses (a retried acquire with the same id returns the same
/// lease; an id is final once released), the memory per device, the number of devices and, for several, how they may
/// be spread over hosts.
/// </summary>
public sealed class ClusterGpuRequest
{
    /// <summary>
    /// The caller's id for the request: non-empty, at most 256 characters, unique per lease, without the character
    /// U+001F (it separates an elastic lease's id from the round of its replacements on the hosts).
    /// </summary>
    public required string RequestId { get; init; }

    /// <summary>Memory to reserve on each device, in bytes (0 or more).</summary>
    public long MemoryBytes { get; init; }

    /// <summary>How many devices (1 by default).</summary>
    public int DeviceCount { get; init; } = 1;

    /// <summary>How several devices may be spread over hosts (<see cref="GangPlacement.Pack"/> by default).</summary>
    public GangPlacement Placement { get; init; } = GangPlacement.Pack;

    /// <summary>Whether degraded devices may be chosen (healthy ones only by default).</summary>
    public bool AllowDegraded { get; init; }

    /// <summary>
    /// Whether the lease is elastic (<see langword="false"/> by default). On a host loss its token fires all the same,
    /// but the pool keeps renewing the surviving parts instead of releasing them, so that
    /// <see cref="IClusterGpuPool.ReacquireAsync"/> replaces only the lost devices (a job that re-forms its ring without
    /// restarting everywhere). Until then, or until released, the survivors stay reserved.
    /// </summary>
    public bool Elastic { get; init; }

    /// <summary>The longest request id accepted.</summary>
    public const int MaxRequestIdLength = 256;

    /// <summary>Devices the request may not use (an elastic lease's replacements keep off its survivors' devices); <see langword="null"/> for none.</summary>
    internal string[]? ExcludedDevices { get; init; }

    /// <summary>Separates a request id from the round of an elastic lease's replacement parts, in the id they are held under on their hosts.</summary>
    internal const char RoundSeparator = '\u001F';

    /// <summary>Formats as <c>request id: n × size (placement)</c>.</summary>
    public override string ToString() => $"{RequestId}: {DeviceCount} x {ByteSize.Format(MemoryBytes)} ({Placement})";
}
