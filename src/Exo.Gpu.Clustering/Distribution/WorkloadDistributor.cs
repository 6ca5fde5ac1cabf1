using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Distribution;

/// <summary>
/// Splits work exactly across devices: N whole items over device weights, with optional per-device minimums and caps,
/// into counts, contiguous ranges or zero-copy slices; model layers over device memory; and a plan rebalanced after a
/// device is lost. Pure and thread safe: no state, no clock, no I/O, no locks.
/// </summary>
/// <remarks>
/// <para><b>Guarantees.</b> The counts add up to the items exactly. A device of weight 0 gets nothing (only its
/// minimum, when the caller gives it one: an explicit minimum wins). Every count lies between the device's minimum and
/// its cap. Items never disappear: when the caps cannot hold them all, the call throws
/// <see cref="InsufficientCapacityException"/>, unless the caller passes <c>allowUnassigned: true</c>, in which case
/// every device is filled to its cap and the rest is reported as unassigned (the last items of the sequence). The same
/// input always gives the same output.</para>
/// <para><b>Methods and ties.</b> See <see cref="ApportionmentMethod"/>. Hamilton (the default) gives the items left
/// after the floors to the largest remainders; the divisor methods give items one at a time to the highest priority.
/// Every tie goes to the lower device index.</para>
/// <para><b>Caps and minimums</b> (water-filling): a device whose share would pass its cap gets its cap, a device whose
/// share would fall below its minimum gets its minimum, and the rest is apportioned among the others by the same
/// method. For Hamilton every count is then the floor or the ceiling of its water-filled share.</para>
/// <para><b>Limits.</b> At most <see cref="MaxItems"/> items per call; weights must be finite, not negative, not all
/// zero, and add up to at most 1e290. Quotas are computed in double precision.</para>
/// </remarks>
public static partial class WorkloadDistributor
{
    /// <summary>The most items one call places: 2⁵³, beyond which double-precision quotas lose whole items.</summary>
    public const long MaxItems = Apportioner.MaxItems;

    /// <summary>
    /// Apportions <paramref name="items"/> whole items over <paramref name="weights"/> into <paramref name="counts"/>,
    /// without allocating (scratch space comes from the stack up to 128 devices, else from the shared array pool).
    /// </summary>
    /// <typeparam name="T">The integer type of the counts, e.g. <see cref="int"/> or <see cref="long"/>.</typeparam>
    /// <param name="items">How many items to place, from 0 to <see cref="MaxItems"/>.</param>
    /// <param name="weights">One weight per device: finite, 0 or more, not all 0.</param>
    /// <param name="counts">Receives one count per device; as long as <paramref name="weights"/>. Written only on success.</param>
    /// <param name="method">The apportionment method; Hamilton unless told.</param>
    /// <param name="minimums">Empty for none, or one minimum per device (0 or more, adding up to at most <paramref name="items"/>).</param>
    /// <param name="caps">Empty for none, or one cap per device (0 or more, each at least its minimum).</param>
    /// <param name="allowUnassigned">
    /// When the caps cannot hold every item: <see langword="false"/> (the default) throws
    /// <see cref="InsufficientCapacityException"/>; <see langword="true"/> fills every device to its cap and returns how
    /// many items are left over.
    /// </param>
    /// <returns>How many items no device holds: 0 unless <paramref name="allowUnassigned"/> and the caps are too small.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="items"/> is negative or above <see cref="MaxItems"/>; a weight is negative, NaN or infinite, or the weights add up to more than 1e290; a minimum or cap is negative; <paramref name="method"/> is not defined.</exception>
    /// <exception cref="InsufficientCapacityException">The caps cannot hold every item and <paramref name="allowUnassigned"/> is <see langword="false"/> (names <c>caps</c>).</exception>
    /// <exception cref="ArgumentException">The weights are empty or all zero; <paramref name="counts"/>, <paramref name="minimums"/> or <paramref name="caps"/> has the wrong length; a minimum is above its cap; the minimums add up to more than <paramref name="items"/>.</exception>
    [SkipLocalsInit]
    public static T Apportion<T>(
        T items,
        ReadOnlySpan<double> weights,
        Span<T> counts,
        ApportionmentMethod method = ApportionmentMethod.Hamilton,
        ReadOnlySpan<T> minimums = default,
        ReadOnlySpan<T> caps = default,
        bool allowUnassigned = false)
        where T : IBinaryInteger<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(items);
        var n = long.CreateSaturating(items);
        if (typeof(T) == typeof(long))
        {
            var longCounts = AsLongs(counts);
            var assigned = ApportionCore(n, weights, longCounts, method, AsLongs(minimums), AsLongs(caps), allowUnassigned);
            return T.CreateTruncating(n - assigned);
        }

        var length = minimums.Length + caps.Length + weights.Length;
        long[]? rented = null;
        Span<long> buffer = length <= 3 * Apportioner.StackDevices ? stackalloc long[length] : (rented = ArrayPool<long>.Shared.Rent(length));
        try
        {
            var longMinimums = buffer[..minimums.Length];
            var longCaps = buffer.Slice(minimums.Length, caps.Length);
            var scratch = buffer.Slice(minimums.Length + caps.Length, weights.Length);
            for (var i = 0; i < minimums.Length; i++)
            {
                longMinimums[i] = long.CreateSaturating(minimums[i]);
            }

            for (var i = 0; i < caps.Length; i++)
            {
                longCaps[i] = long.CreateSaturating(caps[i]);
            }

            ThrowIfLengthDiffers(counts.Length, weights.Length, nameof(counts));
            var assigned = ApportionCore(n, weights, scratch, method, longMinimums, longCaps, allowUnassigned);
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i] = T.CreateTruncating(scratch[i]);
            }

            return T.CreateTruncating(n - assigned);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<long>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Splits <paramref name="items"/> into one contiguous, order-preserving slice per device, without copying an item
    /// and without allocating: slice i is <c>items[offsetᵢ .. offsetᵢ + countᵢ]</c>, the slices follow each other in
    /// device order, and the unassigned items (if any) are the last ones.
    /// </summary>
    /// <typeparam name="T">The item type.</typeparam>
    /// <param name="items">The items; never copied.</param>
    /// <param name="weights">One weight per device (uniform, memory, compute, or a measured throughput): finite, 0 or more, not all 0.</param>
    /// <param name="slices">Receives one slice per device; as long as <paramref name="weights"/>. Written only on success.</param>
    /// <param name="method">The apportionment method; Hamilton unless told.</param>
    /// <param name="minimums">Empty for none, or one minimum per device.</param>
    /// <param name="caps">Empty for none, or one cap per device.</param>
    /// <param name="allowUnassigned">Whether items the caps cannot hold may be left over instead of throwing.</param>
    /// <returns>How many items (the last ones) no slice holds: 0 unless <paramref name="allowUnassigned"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A weight is negative, NaN or infinite; a minimum or cap is negative; <paramref name="method"/> is not defined.</exception>
    /// <exception cref="InsufficientCapacityException">The caps cannot hold every item and <paramref name="allowUnassigned"/> is <see langword="false"/>.</exception>
    /// <exception cref="ArgumentException">The weights are empty or all zero; <paramref name="slices"/>, <paramref name="minimums"/> or <paramref name="caps"/> has the wrong length; a minimum is above its cap; the minimums add up to more than the items.</exception>
    [SkipLocalsInit]
    public static int Split<T>(
        ReadOnlyMemory<T> items,
        ReadOnlySpan<double> weights,
        Span<ReadOnlyMemory<T>> slices,
        ApportionmentMethod method = ApportionmentMethod.Hamilton,
        ReadOnlySpan<long> minimums = default,
        ReadOnlySpan<long> caps = default,
        bool allowUnassigned = false)
    {
        ThrowIfLengthDiffers(slices.Length, weights.Length, nameof(slices));
        var k = weights.Length;
        long[]? rented = null;
        Span<long> counts = k <= Apportioner.StackDevices ? stackalloc long[k] : (rented = ArrayPool<long>.Shared.Rent(k));
        try
        {
            counts = counts[..k];
            var assigned = ApportionCore(items.Length, weights, counts, method, minimums, caps, allowUnassigned);
            var offset = 0;
            for (var i = 0; i < k; i++)
            {
                var c = (int)counts[i];
                slices[i] = items.Slice(offset, c);
                offset += c;
            }

            return items.Length - (int)assigned;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<long>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Splits <paramref name="items"/> items into one contiguous range per device, in device order, without allocating:
    /// <c>ranges[i] = (i, offsetᵢ, countᵢ)</c>, empty ranges included; the unassigned items (if any) are the last ones.
    /// </summary>
    /// <param name="items">How many items to place, from 0 to <see cref="MaxItems"/>.</param>
    /// <param name="weights">One weight per device: finite, 0 or more, not all 0.</param>
    /// <param name="ranges">Receives one range per device; as long as <paramref name="weights"/>. Written only on success.</param>
    /// <param name="method">The apportionment method; Hamilton unless told.</param>
    /// <param name="minimums">Empty for none, or one minimum per device.</param>
    /// <param name="caps">Empty for none, or one cap per device.</param>
    /// <param name="allowUnassigned">Whether items the caps cannot hold may be left over instead of throwing.</param>
    /// <returns>How many items (the last ones) no range holds: 0 unless <paramref name="allowUnassigned"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="items"/> is negative or above <see cref="MaxItems"/>; a weight is negative, NaN or infinite; a minimum or cap is negative; <paramref name="method"/> is not defined.</exception>
    /// <exception cref="InsufficientCapacityException">The caps cannot hold every item and <paramref name="allowUnassigned"/> is <see langword="false"/>.</exception>
    /// <exception cref="ArgumentException">The weights are empty or all zero; <paramref name="ranges"/>, <paramref name="minimums"/> or <paramref name="caps"/> has the wrong length; a minimum is above its cap; the minimums add up to more than <paramref name="items"/>.</exception>
    [SkipLocalsInit]
    public static long SplitRanges(
        long items,
        ReadOnlySpan<double> weights,
        Span<ItemRange> ranges,
        ApportionmentMethod method = ApportionmentMethod.Hamilton,
        ReadOnlySpan<long> minimums = default,
        ReadOnlySpan<long> caps = default,
        bool allowUnassigned = false)
    {
        ThrowIfLengthDiffers(ranges.Length, weights.Length, nameof(ranges));
        var k = weights.Length;
        long[]? rented = null;
        Span<long> counts = k <= Apportioner.StackDevices ? stackalloc long[k] : (rented = ArrayPool<long>.Shared.Rent(k));
        try
        {
            counts = counts[..k];
            var assigned = ApportionCore(items, weights, counts, method, minimums, caps, allowUnassigned);
            long offset = 0;
            for (var i = 0; i < k; i++)
            {
                ranges[i] = new ItemRange(i, offset, counts[i]);
                offset += counts[i];
            }

            return items - assigned;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<long>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Apportions <paramref name="items"/> items over <paramref name="weights"/> into a <see cref="DistributionPlan"/>:
    /// counts, one contiguous range per device in device order, and the unassigned count.
    /// </summary>
    /// <param name="items">How many items to place, from 0 to <see cref="MaxItems"/>.</param>
    /// <param name="weights">One weight per device: finite, 0 or more, not all 0.</param>
    /// <param name="method">The apportionment method; Hamilton unless told.</param>
    /// <param name="minimums">Empty for none, or one minimum per device.</param>
    /// <param name="caps">Empty for none, or one cap per device.</param>
    /// <param name="allowUnassigned">Whether items the caps cannot hold may be left over (as the last range) instead of throwing.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="items"/> is negative or above <see cref="MaxItems"/>; a weight is negative, NaN or infinite; a minimum or cap is negative; <paramref name="method"/> is not defined.</exception>
    /// <exception cref="InsufficientCapacityException">The caps cannot hold every item and <paramref name="allowUnassigned"/> is <see langword="false"/>.</exception>
    /// <exception cref="ArgumentException">The weights are empty or all zero; <paramref name="minimums"/> or <paramref name="caps"/> has the wrong length; a minimum is above its cap; the minimums add up to more than <paramref name="items"/>.</exception>
    public static DistributionPlan Plan(
        long items,
        ReadOnlySpan<double> weights,
        ApportionmentMethod method = ApportionmentMethod.Hamilton,
        ReadOnlySpan<long> minimums = default,
        ReadOnlySpan<long> caps = default,
        bool allowUnassigned = false)
    {
        var assignable = Apportioner.Validate(items, weights, minimums, caps, method, allowUnassigned);
        var counts = new long[weights.Length];
        Apportioner.Compute(assignable, weights, minimums, caps, method, counts);
        return DistributionPlan.FromCounts(method, items, counts, items - assignable);
    }

    /// <summary>Validates, then apportions; returns how many items were placed.</summary>
    private static long ApportionCore(
        long items,
        ReadOnlySpan<double> weights,
        Span<long> counts,
        ApportionmentMethod method,
        ReadOnlySpan<long> minimums,
        ReadOnlySpan<long> caps,
        bool allowUnassigned)
    {
        var assignable = Apportioner.Validate(items, weights, minimums, caps, method, allowUnassigned);
        ThrowIfLengthDiffers(counts.Length, weights.Length, nameof(counts));
        Apportioner.Compute(assignable, weights, minimums, caps, method, counts);
        return assignable;
    }

    private static void ThrowIfLengthDiffers(int length, int devices, string paramName)
    {
        if (length != devices)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"{paramName} has room for {length} devices, but there are {devices} weights."),
                paramName);
        }
    }

    private static Span<long> AsLongs<T>(Span<T> span) =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<T, long>(ref MemoryMarshal.GetReference(span)), span.Length);

    private static ReadOnlySpan<long> AsLongs<T>(ReadOnlySpan<T> span) =>
        MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, long>(ref MemoryMarshal.GetReference(span)), span.Length);
}
