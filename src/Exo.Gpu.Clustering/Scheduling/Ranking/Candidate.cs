using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>An eligible device and its ranking data.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct Candidate
{
    /// <summary>The device's slot.</summary>
    public int Slot;

    /// <summary>The strategy's key: higher is better.</summary>
    public double Key;

    /// <summary>The strategy's tie-break between equal keys: higher is better (the score for <see cref="GpuSelectionStrategy.LeastLoaded"/>; 0 for the others).</summary>
    public double Tie;

    /// <summary>Bytes reserved on the device (the first tie-break: fewer is better).</summary>
    public long Reserved;

    /// <summary>Active leases on the device (the second tie-break: fewer is better).</summary>
    public int Leases;

    /// <summary>Whether <paramref name="a"/> ranks above <paramref name="b"/>: higher key, then higher tie-break, then fewer reserved bytes, then fewer leases, then the lower slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Better(in Candidate a, in Candidate b)
    {
        if (a.Key != b.Key)
        {
            return a.Key > b.Key;
        }

        if (a.Tie != b.Tie)
        {
            return a.Tie > b.Tie;
        }

        if (a.Reserved != b.Reserved)
        {
            return a.Reserved < b.Reserved;
        }

        if (a.Leases != b.Leases)
        {
            return a.Leases < b.Leases;
        }

        return a.Slot < b.Slot;
    }
}
