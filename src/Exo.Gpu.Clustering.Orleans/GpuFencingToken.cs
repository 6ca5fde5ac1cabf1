namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// Orders the grants of one host for work that writes outside the cluster: the host's generation (a restarted host is
/// a new one) and a sequence number the host raises at every grant. A later grant has a larger token, so a store that
/// remembers the largest token it has seen can refuse writes from a holder whose lease has since passed to another.
/// </summary>
/// <param name="Generation">The host's generation: its silo's generation, new at every start.</param>
/// <param name="Sequence">The host's grant counter at this grant, from 1.</param>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.fence")]
public readonly record struct GpuFencingToken([property: Id(0)] long Generation, [property: Id(1)] long Sequence) : IComparable<GpuFencingToken>
{
    /// <summary>Orders by generation, then by sequence.</summary>
    /// <param name="other">The other token.</param>
    /// <returns>Negative, zero or positive as this token is older than, the same as, or newer than <paramref name="other"/>.</returns>
    public int CompareTo(GpuFencingToken other) => Generation != other.Generation ? Generation.CompareTo(other.Generation) : Sequence.CompareTo(other.Sequence);

    /// <summary>Formats as <c>generation:sequence</c>.</summary>
    public override string ToString() => $"{Generation}:{Sequence}";

    /// <summary>Whether <paramref name="left"/> is older than <paramref name="right"/>.</summary>
    /// <param name="left">One token.</param>
    /// <param name="right">The other.</param>
    public static bool operator <(GpuFencingToken left, GpuFencingToken right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> is newer than <paramref name="right"/>.</summary>
    /// <param name="left">One token.</param>
    /// <param name="right">The other.</param>
    public static bool operator >(GpuFencingToken left, GpuFencingToken right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> is older than or the same as <paramref name="right"/>.</summary>
    /// <param name="left">One token.</param>
    /// <param name="right">The other.</param>
    public static bool operator <=(GpuFencingToken left, GpuFencingToken right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> is newer than or the same as <paramref name="right"/>.</summary>
    /// <param name="left">One token.</param>
    /// <param name="right">The other.</param>
    public static bool operator >=(GpuFencingToken left, GpuFencingToken right) => left.CompareTo(right) >= 0;
}
