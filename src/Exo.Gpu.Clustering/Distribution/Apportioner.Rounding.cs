using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Exo.Gpu.Clustering.Distribution;

internal static partial class Apportioner
{
    /// <summary>
    /// Floors the quotas within their bounds, then adds the items left over one per device in descending
    /// <paramref name="keys"/> order (ties: lower index), or, should the floors overshoot, removes items in ascending
    /// key order (ties: higher index).
    /// </summary>
    private static void RoundQuotas(long items, ReadOnlySpan<double> quotas, ReadOnlySpan<double> keys, in Bounds bounds, Span<long> counts, Span<double> scratch)
    {
        long sum = 0;
        for (var i = 0; i < quotas.Length; i++)
        {
            var q = Math.Clamp(quotas[i], 0, MaxItems);
            var c = Math.Clamp((long)Math.Floor(q), bounds.Low(i), bounds.High(i));
            counts[i] = c;
            sum += c;
        }

        var left = items - sum;
        while (left > 0)
        {
            left -= AdjustByKey(left, +1, keys, bounds, counts, scratch);
        }

        while (left < 0)
        {
            left += AdjustByKey(-left, -1, keys, bounds, counts, scratch);
        }
    }

    /// <summary>
    /// Moves up to <paramref name="wanted"/> devices one item in <paramref name="direction"/>: the eligible devices with
    /// the largest keys when adding (ties: lower index), the smallest keys when removing (ties: higher index). Returns
    /// how many moved. O(devices log devices): a sort of the eligible keys finds the threshold key.
    /// </summary>
    private static long AdjustByKey(long wanted, int direction, ReadOnlySpan<double> keys, in Bounds bounds, Span<long> counts, Span<double> scratch)
    {
        var k = counts.Length;
        var n = 0;
        for (var i = 0; i < k; i++)
        {
            if (CanMove(i, direction, bounds, counts))
            {
                scratch[n++] = keys[i];
            }
        }

        if (n == 0)
        {
            throw new UnreachableException("No device can take or give an item although the bounds were checked.");
        }

        if (wanted >= n)
        {
            for (var i = 0; i < k; i++)
            {
                if (CanMove(i, direction, bounds, counts))
                {
                    counts[i] += direction;
                }
            }

            return n;
        }

        var m = (int)wanted;
        var sorted = scratch[..n];
        sorted.Sort();
        if (direction > 0)
        {
            var threshold = sorted[n - m];
            var ties = m;
            for (var j = n - 1; j >= 0 && sorted[j] > threshold; j--)
            {
                ties--;
            }

            for (var i = 0; i < k; i++)
            {
                if (!CanMove(i, direction, bounds, counts))
                {
                    continue;
                }

                if (keys[i] > threshold)
                {
                    counts[i]++;
                }
                else if (keys[i] == threshold && ties > 0)
                {
                    counts[i]++;
                    ties--;
                }
            }
        }
        else
        {
            var threshold = sorted[m - 1];
            var ties = m;
            for (var j = 0; j < n && sorted[j] < threshold; j++)
            {
                ties--;
            }

            for (var i = k - 1; i >= 0; i--)
            {
                if (!CanMove(i, direction, bounds, counts))
                {
                    continue;
                }

                if (keys[i] < threshold)
                {
                    counts[i]--;
                }
                else if (keys[i] == threshold && ties > 0)
                {
                    counts[i]--;
                    ties--;
                }
            }
        }

        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool CanMove(int i, int direction, in Bounds bounds, ReadOnlySpan<long> counts) =>
        bounds.Weight(i) > 0 && (direction > 0 ? counts[i] < bounds.High(i) : counts[i] > bounds.Low(i));

    /// <summary>
    /// A divisor method with divisors <c>c + offset</c> (1 for D'Hondt, 0.5 for Webster): start from
    /// <c>clamp(round(multiplier × w))</c> by the method's own rounding, which is the exact result for some nearby total
    /// whatever the multiplier (the water-filled quotas when it is NaN); add or remove single items by priority until the
    /// total is right; then swap while a device's next item outranks another's last one. The result is the item-by-item
    /// result; a good multiplier only makes it quicker.
    /// </summary>
    private static void DivisorRound(long items, double multiplier, ReadOnlySpan<double> quotas, in Bounds bounds, double offset, Span<long> counts, Span<double> next, Span<double> last)
    {
        var k = counts.Length;
        var rounding = offset == 1.0 ? 0.0 : 0.5;
        long sum = 0;
        for (var i = 0; i < k; i++)
        {
            var start = double.IsNaN(multiplier) ? quotas[i] : multiplier * bounds.Weight(i);
            var q = Math.Clamp(start + rounding, 0, MaxItems);
            var c = Math.Clamp((long)Math.Floor(q), bounds.Low(i), bounds.High(i));
            counts[i] = c;
            sum += c;
        }

        for (var i = 0; i < k; i++)
        {
            Refresh(i, offset, bounds, counts, next, last);
        }

        while (sum < items)
        {
            var i = ArgMaxNext(next);
            counts[i]++;
            sum++;
            Refresh(i, offset, bounds, counts, next, last);
        }

        while (sum > items)
        {
            var i = ArgMinLast(last);
            counts[i]--;
            sum--;
            Refresh(i, offset, bounds, counts, next, last);
        }

        while (true)
        {
            var up = ArgMaxNext(next);
            var down = ArgMinLast(last);
            if (up < 0 || down < 0 || !(next[up] > last[down] || (next[up] == last[down] && up < down)))
            {
                return;
            }

            counts[up]++;
            counts[down]--;
            Refresh(up, offset, bounds, counts, next, last);
            Refresh(down, offset, bounds, counts, next, last);
        }
    }

    /// <summary>
    /// Caches device <paramref name="i"/>'s priorities: of its next item (-1 when it cannot take one) and of its last
    /// item above its minimum (+∞ when it has none to give).
    /// </summary>
    private static void Refresh(int i, double offset, in Bounds bounds, ReadOnlySpan<long> counts, Span<double> next, Span<double> last)
    {
        var w = bounds.Weight(i);
        var c = counts[i];
        next[i] = w > 0 && c < bounds.High(i) ? w / (c + offset) : -1;
        last[i] = w > 0 && c > bounds.Low(i) ? w / (c - 1 + offset) : double.PositiveInfinity;
    }

    /// <summary>The device whose next item has the highest priority (ties: lower index), or -1.</summary>
    private static int ArgMaxNext(ReadOnlySpan<double> next)
    {
        var best = -1;
        var bestPriority = -1.0;
        for (var i = 0; i < next.Length; i++)
        {
            if (next[i] > bestPriority)
            {
                best = i;
                bestPriority = next[i];
            }
        }

        return best;
    }

    /// <summary>The device whose last item has the lowest priority (ties: higher index), or -1.</summary>
    private static int ArgMinLast(ReadOnlySpan<double> last)
    {
        var best = -1;
        var bestPriority = double.PositiveInfinity;
        for (var i = 0; i < last.Length; i++)
        {
            if (last[i] <= bestPriority && last[i] != double.PositiveInfinity)
            {
                best = i;
                bestPriority = last[i];
            }
        }

        return best;
    }
}
