using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>One device's verdict for one request: eligible, or every reason it was rejected.</summary>
public sealed class GpuDeviceVerdict
{
    internal GpuDeviceVerdict(
        GpuDevice device,
        GpuHealth health,
        IReadOnlyList<string> reasons,
        int distance,
        long capacityBytes,
        long reservedBytes,
        long? observedFreeBytes,
        long freeBytesAfterReservations,
        int activeLeases,
        GpuScoreBreakdown? score,
        TimeSpan sampleAge)
    {
        Device = device;
        Health = health;
        Reasons = reasons;
        Distance = distance;
        CapacityBytes = capacityBytes;
        ReservedBytes = reservedBytes;
        ObservedFreeBytes = observedFreeBytes;
        FreeBytesAfterReservations = freeBytesAfterReservations;
        ActiveLeases = activeLeases;
        Score = score;
        SampleAge = sampleAge;
    }

    /// <summary>The device.</summary>
    public GpuDevice Device { get; }

    /// <summary>Its health when judged.</summary>
    public GpuHealth Health { get; }

    /// <summary>Whether it passes every constraint (it may still not be chosen if others rank higher).</summary>
    public bool Eligible => Reasons.Count == 0;

    /// <summary>Why it was rejected, e.g. <c>needs 20 GiB, 12 GiB free after reservations</c>; empty when eligible.</summary>
    public IReadOnlyList<string> Reasons { get; }

    /// <summary>Its capacity for leases: total memory minus the selector's headroom.</summary>
    public long CapacityBytes { get; }

    /// <summary>Bytes reserved on it by active leases.</summary>
    public long ReservedBytes { get; }

    /// <summary>Free memory in its latest fresh reading, or <see langword="null"/> when there is none.</summary>
    public long? ObservedFreeBytes { get; }

    /// <summary>
    /// Free memory after reservations: <c>min(capacity − reserved, observed free − headroom)</c>, at least 0
    /// (<c>capacity − reserved</c> when there is no fresh reading of memory).
    /// </summary>
    public long FreeBytesAfterReservations { get; }

    /// <summary>Active leases on it.</summary>
    public int ActiveLeases { get; }

    /// <summary>Its score's components, or <see langword="null"/> when it has no fresh reading.</summary>
    public GpuScoreBreakdown? Score { get; }

    /// <summary>The age of its latest reading (<see cref="TimeSpan.MaxValue"/> when there is none).</summary>
    public TimeSpan SampleAge { get; }

    /// <summary>How far from qualifying: the sum of its reasons' weights (see <see cref="Rejections"/>); 0 when eligible.</summary>
    internal int Distance { get; }

    /// <summary>Formats as <c>3: NVIDIA H100 (GPU-…): eligible, score 0.812 (…)</c> or with its reasons.</summary>
    public override string ToString() =>
        Eligible
            ? $"{Device}: eligible, free {ByteSize.Format(FreeBytesAfterReservations)}{(Score is { } s ? ", score " + s : string.Empty)}"
            : $"{Device}: {string.Join("; ", Reasons)}";
}
