using System.Numerics;
using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// Statistics of a window of values: one pass for count, mean, min, max and last, then selection (not a full sort) for
/// the nearest-rank percentiles. Values are finite (the collector validated them).
/// </summary>
internal static class SummaryMath
{
    /// <summary>Below this many values a range is finished with an insertion sort.</summary>
    private const int InsertionSortThreshold = 16;


    /// <summary>Summarizes <paramref name="values"/> (oldest first, at least one); reorders them.</summary>
    public static TelemetrySummary Summarize(TelemetryMetric metric, Span<double> values, long fromUtcTicks, long toUtcTicks)
    {
        var n = values.Length;
        var last = values[n - 1];
        var (sum, min, max) = SumMinMax(values);

        var (p50, p95) = SelectTwo(values, NearestRankIndex(50, n), NearestRankIndex(95, n));
        return new TelemetrySummary(
            metric,
            n,
            sum / n,
            min,
            max,
            p50,
            p95,
            last,
            new DateTimeOffset(fromUtcTicks, TimeSpan.Zero),
            new DateTimeOffset(toUtcTicks, TimeSpan.Zero));
    }

    /// <summary>Sum, minimum and maximum in one vectorized pass (the values are finite).</summary>
    public static (double Sum, double Min, double Max) SumMinMax(ReadOnlySpan<double> values)
    {
        double sum = 0, min = values[0], max = values[0];
        var i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<double>.Count)
        {
            var vectors = MemoryMarshal.Cast<double, Vector<double>>(values);
            Vector<double> vsum = Vector<double>.Zero, vmin = vectors[0], vmax = vectors[0];
            foreach (var v in vectors)
            {
                vsum += v;
                vmin = Vector.Min(vmin, v);
                vmax = Vector.Max(vmax, v);
            }

            sum = Vector.Sum(vsum);
            for (var lane = 0; lane < Vector<double>.Count; lane++)
            {
                min = Math.Min(min, vmin[lane]);
                max = Math.Max(max, vmax[lane]);
            }

            i = vectors.Length * Vector<double>.Count;
        }

        for (; i < values.Length; i++)
        {
            var v = values[i];
            sum += v;
            min = v < min ? v : min;
            max = v > max ? v : max;
        }

        return (sum, min, max);
    }

    /// <summary>The 0-based index of the nearest-rank <paramref name="percent"/>-th percentile of <paramref name="count"/> sorted values: ⌈percent·count/100⌉ − 1, at least 0.</summary>
    public static int NearestRankIndex(int percent, int count) => Math.Max(0, (int)((((long)percent * count) + 99) / 100) - 1);

    /// <summary>
    /// Returns the value that would be at index <paramref name="k"/> if <paramref name="values"/> were sorted (reorders them).
    /// </summary>
    public static double Select(Span<double> values, int k) => SelectTwo(values, k, k).Low;

    /// <summary>
    /// Returns the values that would be at indexes <paramref name="kLow"/> ≤ <paramref name="kHigh"/> if
    /// <paramref name="values"/> were sorted, reordering them: quickselect for both at once, sharing every partition
    /// until the two indexes fall on different sides (expected O(n)). Pivots are medians of three; the partition is a
    /// branch-free Lomuto, so random data costs no mispredicted branches; a lopsided split gathers the copies of the
    /// pivot, so many equal values cannot make it quadratic; and should pivots keep choosing badly, what is left is sorted.
    /// </summary>
    public static (double Low, double High) SelectTwo(Span<double> values, int kLow, int kHigh)
    {
        var lo = 0;
        var hi = values.Length - 1;
        var budget = 2 * (BitOperations.Log2((uint)values.Length) + 1);
        while (hi - lo >= InsertionSortThreshold)
        {
            if (--budget < 0)
            {
                values[lo..(hi + 1)].Sort();
                return (values[kLow], values[kHigh]);
            }

            var (store, equalEnd) = Partition(values, lo, hi);
            var pivot = values[store];

            // Now values[lo..store) < pivot == values[store..equalEnd) <= values[equalEnd..hi].
            if (kHigh < store)
            {
                hi = store - 1;
                continue;
            }

            if (kLow >= equalEnd)
            {
                lo = equalEnd;
                continue;
            }

            // The indexes part ways (or land on the pivot): finish each side on its own.
            var low = kLow >= store ? pivot : SelectTwo(values[lo..store], kLow - lo, kLow - lo).Low;
            var high = kHigh < equalEnd ? pivot : SelectTwo(values[equalEnd..(hi + 1)], kHigh - equalEnd, kHigh - equalEnd).Low;
            return (low, high);
        }

        InsertionSort(values[lo..(hi + 1)]);
        return (values[kLow], values[kHigh]);
    }

    /// <summary>Partitions <c>values[lo..hi]</c> around the median of its first, middle and last values.</summary>
    /// <returns>Where the pivot landed, and the end of the run of values equal to it after it (at least <c>store + 1</c>).</returns>
    private static (int Store, int EqualEnd) Partition(Span<double> values, int lo, int hi)
    {
        // Median of three, moved to hi as the pivot.
        var mid = lo + ((hi - lo) >> 1);
        SortThree(ref values[lo], ref values[mid], ref values[hi]);
        (values[mid], values[hi]) = (values[hi], values[mid]);
        var pivot = values[hi];

        // Lomuto without branches: values[lo..store) < pivot <= values[store..j).
        var store = lo;
        for (var j = lo; j < hi; j++)
        {
            var v = values[j];
            values[j] = values[store];
            values[store] = v;
            store += v < pivot ? 1 : 0;
        }

        (values[store], values[hi]) = (values[hi], values[store]);

        var equalEnd = store + 1;
        if ((hi - store) * 8L > (hi - lo + 1) * 7L)
        {
            // A lopsided split: often many copies of the pivot (a device pinned at 100 % or at its power limit).
            // Gather them after it, so equal values cannot make the selection quadratic.
            for (var j = store + 1; j <= hi; j++)
            {
                var v = values[j];
                values[j] = values[equalEnd];
                values[equalEnd] = v;
                equalEnd += v <= pivot ? 1 : 0;
            }
        }

        return (store, equalEnd);
    }

    private static void SortThree(ref double a, ref double b, ref double c)
    {
        if (b < a)
        {
            (a, b) = (b, a);
        }

        if (c < b)
        {
            (b, c) = (c, b);
            if (b < a)
            {
                (a, b) = (b, a);
            }
        }
    }

    private static void InsertionSort(Span<double> values)
    {
        for (var i = 1; i < values.Length; i++)
        {
            var v = values[i];
            var j = i - 1;
            while (j >= 0 && values[j] > v)
            {
                values[j + 1] = values[j];
                j--;
            }

            values[j + 1] = v;
        }
    }
}
