using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>One fault of a <see cref="SimulatedFaultPlan"/>.</summary>
public sealed record SimulatedFault
{
    /// <summary>Creates a fault.</summary>
    /// <param name="deviceIndex">The index of the device it strikes, 0 or more.</param>
    /// <param name="kind">What it does.</param>
    /// <param name="at">When it starts, measured from the backend's creation; 0 or more.</param>
    /// <param name="duration">How long it lasts (the device then recovers), or <see langword="null"/> for ever.</param>
    /// <param name="code">The Xid number of an <see cref="SimulatedFaultKind.Xid"/> fault; 0 elsewhere means none.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range (it is named).</exception>
    public SimulatedFault(int deviceIndex, SimulatedFaultKind kind, TimeSpan at, TimeSpan? duration = null, int code = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(deviceIndex);
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown fault kind.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(at, TimeSpan.Zero);
        if (duration is TimeSpan d)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(d, TimeSpan.Zero, nameof(duration));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(code);
        DeviceIndex = deviceIndex;
        Kind = kind;
        At = at;
        Duration = duration;
        Code = kind == SimulatedFaultKind.Xid && code == 0 ? 79 : code;
    }

    /// <summary>The index of the device it strikes.</summary>
    public int DeviceIndex { get; }

    /// <summary>What it does.</summary>
    public SimulatedFaultKind Kind { get; }

    /// <summary>When it starts, from the backend's creation.</summary>
    public TimeSpan At { get; }

    /// <summary>How long it lasts, or <see langword="null"/> for ever.</summary>
    public TimeSpan? Duration { get; }

    /// <summary>The Xid number of an <see cref="SimulatedFaultKind.Xid"/> fault.</summary>
    public int Code { get; }

    /// <summary>Whether the fault is active at <paramref name="elapsed"/> after the backend's creation.</summary>
    /// <param name="elapsed">Time since the backend's creation.</param>
    /// <returns><see langword="true"/> from <see cref="At"/> (inclusive) until <see cref="At"/> + <see cref="Duration"/> (exclusive).</returns>
    public bool IsActiveAt(TimeSpan elapsed) => elapsed >= At && (Duration is not TimeSpan d || elapsed < At + d);

    /// <summary>Formats in the form <see cref="SimulatedFaultPlan.Parse"/> reads, e.g. <c>lost:2@30s+60s</c>.</summary>
    public override string ToString()
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{SimulatedFaultPlan.KindName(Kind)}:{DeviceIndex}@{At.TotalSeconds}s");
        if (Duration is TimeSpan d)
        {
            text += string.Create(CultureInfo.InvariantCulture, $"+{d.TotalSeconds}s");
        }

        return Kind == SimulatedFaultKind.Xid ? string.Create(CultureInfo.InvariantCulture, $"{text}#{Code}") : text;
    }
}
