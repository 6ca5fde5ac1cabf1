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
        double sum = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values)
        {
            sum += v;
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        var k95 = NearestRankIndex(95, n);
        var k50 = NearestRankIndex(50, n);
        var p95 = Select(values, k95);

        // After selecting k95, everything before it is <= it, so the median lies in that prefix.
        var p50 = k50 == k95 ? p95 : Select(values[..k95], k50);
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

    /// <summary>The 0-based index of the nearest-rank <paramref name="percent"/>-th percentile of <paramref name="count"/> sorted values: ⌈percent·count/100⌉ − 1, at least 0.</summary>
    public static int NearestRankIndex(int percent, int count) => Math.Max(0, (int)((((long)percent * count) + 99) / 100) - 1);

    /// <summary>
    /// Returns the value that would be at index <paramref name="k"/> if <paramref name="values"/> were sorted, and
    /// partitions <paramref name="values"/> around it (quickselect with a median-of-three pivot; expected O(n)).
    /// </summary>
    public static double Select(Span<double> values, int k)
    {
        var lo = 0;
        var hi = values.Length - 1;
        while (hi - lo >= InsertionSortThreshold)
        {
            var mid = lo + ((hi - lo) >> 1);
            SortThree(ref values[lo], ref values[mid], ref values[hi]);
            var pivot = values[mid];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (values[i] < pivot)
                {
                    i++;
                }

                while (values[j] > pivot)
                {
                    j--;
                }

                if (i <= j)
                {
                    (values[i], values[j]) = (values[j], values[i]);
                    i++;
                    j--;
                }
            }

            // Now values[lo..j] <= pivot <= values[i..hi], and values[j+1..i-1] == pivot.
            if (k <= j)
            {
                hi = j;
            }
            else if (k >= i)
            {
                lo = i;
            }
            else
            {
                return values[k];
            }
        }

        InsertionSort(values[lo..(hi + 1)]);
        return values[k];
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
