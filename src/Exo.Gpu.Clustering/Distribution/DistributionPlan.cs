using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;

namespace Exo.Gpu.Clustering.Distribution;

/// <summary>
/// Where each of <see cref="TotalItems"/> items goes: how many per device (<see cref="Counts"/>), how many no device
/// holds (<see cref="Unassigned"/>), and the contiguous runs of items per device (<see cref="Ranges"/>). Immutable.
/// </summary>
/// <remarks>
/// <para><see cref="Ranges"/> are in item order and cover <c>[0, TotalItems)</c> exactly once; adjacent runs of the
/// same device are merged and empty runs are left out.</para>
/// <para>A fresh plan (from <see cref="WorkloadDistributor.Plan"/> or <see cref="WorkloadDistributor.PartitionLayers"/>)
/// gives each device one run, in device order, and puts the unassigned items, if any, at the end. After
/// <see cref="WorkloadDistributor.Rebalance"/> a survivor may hold several runs: its own, untouched, plus a piece of
/// each run of the lost device. Keeping every other item where it was and every device's items in one run are not
/// possible together, so the plan keeps the items in place.</para>
/// </remarks>
public sealed class DistributionPlan
{
    private static readonly ReadOnlyCollection<int> NoDevices = new([]);

    private readonly long[] _counts;
    private readonly ItemRange[] _ranges;

    internal DistributionPlan(ApportionmentMethod method, long totalItems, long[] counts, long unassigned, ItemRange[] ranges, int[]? lostDevices = null)
    {
        Method = method;
        TotalItems = totalItems;
        _counts = counts;
        _ranges = ranges;
        Unassigned = unassigned;
        Counts = Array.AsReadOnly(counts);
        Ranges = Array.AsReadOnly(ranges);
        LostDevices = lostDevices is { Length: > 0 } ? Array.AsReadOnly(lostDevices) : NoDevices;
    }

    /// <summary>The apportionment method that made the plan.</summary>
    public ApportionmentMethod Method { get; }

    /// <summary>How many items the plan covers, assigned or not.</summary>
    public long TotalItems { get; }

    /// <summary>How many devices the plan covers (the length of the weights it was made from).</summary>
    public int DeviceCount => _counts.Length;

    /// <summary>How many items each device holds, by device position. Adds up to <see cref="TotalItems"/> − <see cref="Unassigned"/>.</summary>
    public IReadOnlyList<long> Counts { get; }

    /// <summary>How many items no device holds: 0 unless the caller allowed unassigned items and the caps were too small.</summary>
    public long Unassigned { get; }

    /// <summary>How many items the devices hold.</summary>
    public long Assigned => TotalItems - Unassigned;

    /// <summary>Every run of items, in item order, covering <c>[0, TotalItems)</c> exactly once.</summary>
    public IReadOnlyList<ItemRange> Ranges { get; }

    /// <summary>The devices taken out by <see cref="WorkloadDistributor.Rebalance"/>, in the order they were lost.</summary>
    public IReadOnlyList<int> LostDevices { get; }

    internal ReadOnlySpan<long> CountSpan => _counts;

    internal ReadOnlySpan<ItemRange> RangeSpan => _ranges;

    /// <summary>The runs of items a device holds, in item order.</summary>
    /// <param name="device">The device's position, or <see cref="ItemRange.UnassignedDevice"/> for the unassigned runs.</param>
    /// <returns>The runs; empty when the device holds no item.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="device"/> is not a device of the plan.</exception>
    public IReadOnlyList<ItemRange> GetRanges(int device)
    {
        ThrowIfBadDevice(device);
        var result = new List<ItemRange>(1);
        foreach (var range in _ranges)
        {
            if (range.Device == device)
            {
                result.Add(range);
            }
        }

        return result.AsReadOnly();
    }

    /// <summary>
    /// The items a device holds, as slices of <paramref name="items"/>: one per run, in item order. The slices share
    /// the caller's memory; nothing is copied.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="items">The items the plan was made for; exactly <see cref="TotalItems"/> of them.</param>
    /// <param name="device">The device's position, or <see cref="ItemRange.UnassignedDevice"/> for the unassigned items.</param>
    /// <returns>The slices; empty when the device holds no item.</returns>
    /// <exception cref="ArgumentException"><paramref name="items"/> does not hold <see cref="TotalItems"/> items.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="device"/> is not a device of the plan.</exception>
    public ReadOnlyMemory<T>[] GetSlices<T>(ReadOnlyMemory<T> items, int device)
    {
        if (items.Length != TotalItems)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The plan covers {TotalItems} items, but {items.Length} were given."),
                nameof(items));
        }

        ThrowIfBadDevice(device);
        var n = 0;
        foreach (var range in _ranges)
        {
            n += range.Device == device ? 1 : 0;
        }

        var slices = new ReadOnlyMemory<T>[n];
        n = 0;
        foreach (var range in _ranges)
        {
            if (range.Device == device)
            {
                slices[n++] = items.Slice((int)range.Offset, (int)range.Count);
            }
        }

        return slices;
    }

    /// <summary>Formats as <c>hamilton 4/3/3</c>, with the unassigned count when there is one.</summary>
    public override string ToString()
    {
        var text = new StringBuilder(Method.ToString().ToLowerInvariant()).Append(' ');
        for (var i = 0; i < _counts.Length; i++)
        {
            text.Append(i == 0 ? string.Empty : "/").Append(_counts[i].ToString(CultureInfo.InvariantCulture));
        }

        if (Unassigned > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" (unassigned {Unassigned})");
        }

        return text.ToString();
    }

    /// <summary>A fresh plan: one run per device with items, in device order, then the unassigned items.</summary>
    internal static DistributionPlan FromCounts(ApportionmentMethod method, long totalItems, long[] counts, long unassigned)
    {
        var runs = unassigned > 0 ? 1 : 0;
        foreach (var c in counts)
        {
            runs += c > 0 ? 1 : 0;
        }

        var ranges = new ItemRange[runs];
        long offset = 0;
        var r = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] > 0)
            {
                ranges[r++] = new ItemRange(i, offset, counts[i]);
                offset += counts[i];
            }
        }

        if (unassigned > 0)
        {
            ranges[r] = new ItemRange(ItemRange.UnassignedDevice, offset, unassigned);
        }

        return new DistributionPlan(method, totalItems, counts, unassigned, ranges);
    }

    private void ThrowIfBadDevice(int device)
    {
        if (device != ItemRange.UnassignedDevice && (uint)device >= (uint)_counts.Length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(device),
                device,
                string.Create(CultureInfo.InvariantCulture, $"The plan covers devices 0 to {_counts.Length - 1}."));
        }
    }
}
