using System.Globalization;
using System.Text;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The components of a device's <see cref="GpuSelectionStrategy.BestScore"/> score, each in [0, 1] (1 is best), and
/// their weighted mean. A component the device does not report is <see langword="null"/> and left out of the mean.
/// </summary>
/// <param name="Total">The weighted mean of the known components.</param>
/// <param name="FreeMemory">Free bytes after reservations over the largest capacity in the cluster.</param>
/// <param name="Utilization"><c>1 − utilization / 100</c>.</param>
/// <param name="Temperature">Temperature headroom below the hot limit.</param>
/// <param name="PowerHeadroom"><c>1 − power / power limit</c>.</param>
public readonly record struct GpuScoreBreakdown(double Total, double FreeMemory, double? Utilization, double? Temperature, double? PowerHeadroom)
{
    /// <summary>Formats as <c>0.812 (free 0.95, util 0.60, temp 0.70, power 0.55)</c>.</summary>
    public override string ToString()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"{Total:0.000} (free {FreeMemory:0.00}");
        Append(b, "util", Utilization);
        Append(b, "temp", Temperature);
        Append(b, "power", PowerHeadroom);
        return b.Append(')').ToString();
    }

    private static void Append(StringBuilder b, string name, double? value) =>
        b.Append(CultureInfo.InvariantCulture, $", {name} {(value is double v ? v.ToString("0.00", CultureInfo.InvariantCulture) : "n/a")}");
}

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

/// <summary>Why a <see cref="DeviceSelector"/> would choose what it chooses for a request: a verdict for every device.</summary>
public sealed class GpuSelectionExplanation
{
    internal GpuSelectionExplanation(GpuRequest request, GpuSelectionStrategy strategy, IReadOnlyList<GpuDeviceVerdict> devices, IReadOnlyList<GpuDevice> chosen, GpuDeviceVerdict? nearest)
    {
        Request = request;
        Strategy = strategy;
        Devices = devices;
        Chosen = chosen;
        Nearest = nearest;
    }

    /// <summary>The request explained.</summary>
    public GpuRequest Request { get; }

    /// <summary>The strategy used.</summary>
    public GpuSelectionStrategy Strategy { get; }

    /// <summary>Every device, by slot.</summary>
    public IReadOnlyList<GpuDeviceVerdict> Devices { get; }

    /// <summary>The devices the selector chooses now (as many as the request asks for), or empty when the request does not fit.</summary>
    public IReadOnlyList<GpuDevice> Chosen { get; }

    /// <summary>When the request does not fit: the rejected device closest to qualifying (fewest reasons, then smallest memory shortfall); otherwise <see langword="null"/>.</summary>
    public GpuDeviceVerdict? Nearest { get; }

    /// <summary>Whether the request fits now.</summary>
    public bool Fits => Chosen.Count > 0;

    /// <summary>One line per device, then the choice.</summary>
    public override string ToString()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"request: {Request}; strategy {Strategy}").AppendLine();
        foreach (var d in Devices)
        {
            b.Append("  ").Append(d).AppendLine();
        }

        b.Append(Fits ? "chosen: " + string.Join(", ", Chosen.Select(c => c.Index.ToString(CultureInfo.InvariantCulture))) : "nothing fits");
        return b.ToString();
    }
}
