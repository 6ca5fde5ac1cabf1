namespace Exo.Gpu.Clustering.Distribution;

/// <summary>
/// A contiguous run of items, <c>[Offset, Offset + Count)</c> in the caller's sequence, placed on one device, or left
/// unassigned when <see cref="Device"/> is <see cref="UnassignedDevice"/>.
/// </summary>
/// <param name="Device">The device's position in the weights (0-based), or <see cref="UnassignedDevice"/>.</param>
/// <param name="Offset">The index of the first item of the run.</param>
/// <param name="Count">How many items the run holds.</param>
public readonly record struct ItemRange(int Device, long Offset, long Count)
{
    /// <summary>The <see cref="Device"/> of a run of items that no device holds (the caller allowed unassigned items).</summary>
    public const int UnassignedDevice = -1;

    /// <summary>The index one past the last item of the run.</summary>
    public long End => Offset + Count;

    /// <summary>Whether no device holds the run.</summary>
    public bool IsUnassigned => Device == UnassignedDevice;
}
