using System.Numerics;
using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

/// <summary>
/// Slow, obviously-correct apportionments the library is checked against: textbook definitions in exact integer
/// arithmetic (integer weights only), with none of the library's shortcuts.
/// </summary>
internal static class Reference
{
    /// <summary>Hamilton without bounds: floors of N·w/W, then +1 to the largest remainders, ties to the lower index.</summary>
    public static long[] Hamilton(long items, long[] weights)
    {
        var total = new BigInteger(weights.Sum());
        var counts = new long[weights.Length];
        var remainders = new BigInteger[weights.Length];
        long sum = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            var product = new BigInteger(items) * weights[i];
            counts[i] = (long)BigInteger.DivRem(product, total, out remainders[i]);
            sum += counts[i];
        }

        var order = Enumerable.Range(0, weights.Length)
            .OrderByDescending(i => remainders[i])
            .ThenBy(i => i)
            .ToArray();
        for (var j = 0; j < items - sum; j++)
        {
            counts[order[j]]++;
        }

        return counts;
    }

    /// <summary>
    /// A divisor method item by item: start every device at its minimum, then give each further item to the device with
    /// the highest w / (c + 1) (D'Hondt) or w / (c + ½) (Webster) that is below its cap and has a positive weight; ties
    /// to the lower index. Priorities are compared as exact fractions.
    /// </summary>
    public static long[] Divisor(long items, long[] weights, ApportionmentMethod method, long[]? minimums = null, long[]? caps = null)
    {
        var counts = new long[weights.Length];
        long sum = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            counts[i] = minimums?[i] ?? 0;
            sum += counts[i];
        }

        for (; sum < items; sum++)
        {
            var best = -1;
            for (var i = 0; i < weights.Length; i++)
            {
                if (weights[i] == 0 || (caps is not null && counts[i] >= caps[i]))
                {
                    continue;
                }

                if (best < 0 || Outranks(weights[i], counts[i], weights[best], counts[best], method))
                {
                    best = i;
                }
            }

            if (best < 0)
            {
                throw new InvalidOperationException("reference: no room");
            }

            counts[best]++;
        }

        return counts;
    }

    /// <summary>Whether w1 / d(c1) &gt; w2 / d(c2), exactly (d(c) = c + 1, or 2c + 1 for Webster after doubling).</summary>
    private static bool Outranks(long w1, long c1, long w2, long c2, ApportionmentMethod method)
    {
        BigInteger d1 = method == ApportionmentMethod.DHondt ? c1 + 1 : (2 * c1) + 1;
        BigInteger d2 = method == ApportionmentMethod.DHondt ? c2 + 1 : (2 * c2) + 1;
        return w1 * d2 > w2 * d1;
    }

    /// <summary>
    /// The water-filled quotas clamp(λ·w, min, cap) adding up to N, found by bisection on λ (a different algorithm from
    /// the library's). A device of weight 0 sits at its minimum.
    /// </summary>
    public static double[] WaterFilledQuotas(long items, double[] weights, long[]? minimums, long[]? caps)
    {
        double Low(int i) => minimums?[i] ?? 0;
        double High(int i) => weights[i] == 0 ? Low(i) : caps?[i] ?? double.PositiveInfinity;
        double Sum(double lambda)
        {
            double s = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                s += Math.Clamp(lambda * weights[i], Low(i), High(i));
            }

            return s;
        }

        double lo = 0;
        double hi = 1;
        while (Sum(hi) < items && hi < 1e300)
        {
            hi *= 2;
        }

        for (var iteration = 0; iteration < 200; iteration++)
        {
            var mid = (lo + hi) / 2;
            if (Sum(mid) < items)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return weights.Select((w, i) => Math.Clamp(hi * w, Low(i), High(i))).ToArray();
    }

    /// <summary>Apportions with the library into a fresh array (long counts).</summary>
    public static long[] Apportion(long items, double[] weights, ApportionmentMethod method = ApportionmentMethod.Hamilton, long[]? minimums = null, long[]? caps = null)
    {
        var counts = new long[weights.Length];
        WorkloadDistributor.Apportion(items, weights, counts, method, minimums, caps);
        return counts;
    }

    public static double[] AsDoubles(this long[] weights) => weights.Select(w => (double)w).ToArray();
}

/// <summary>A random apportionment problem that is feasible by construction.</summary>
internal sealed record Case(long Items, long[] Weights, long[]? Minimums, long[]? Caps)
{
    public double[] DoubleWeights => Weights.AsDoubles();

    public override string ToString() =>
        $"items {Items}, weights [{string.Join(',', Weights)}], minimums [{string.Join(',', Minimums ?? [])}], caps [{string.Join(',', Caps ?? [])}]";

    /// <summary>
    /// Draws a case: 1 to <paramref name="maxDevices"/> devices, integer weights (about a fifth of them 0, at least one
    /// positive), optional minimums and caps, and an item count the bounds can hold.
    /// </summary>
    public static Case Draw(Random random, int maxDevices, long maxItems, long maxWeight, bool bounds)
    {
        var k = random.Next(1, maxDevices + 1);
        var weights = new long[k];
        for (var i = 0; i < k; i++)
        {
            weights[i] = random.Next(5) == 0 ? 0 : random.NextInt64(1, maxWeight + 1);
        }

        if (weights.All(w => w == 0))
        {
            weights[random.Next(k)] = random.NextInt64(1, maxWeight + 1);
        }

        long[]? minimums = null;
        long[]? caps = null;
        if (bounds && random.Next(2) == 0)
        {
            minimums = weights.Select(_ => random.Next(3) == 0 ? random.NextInt64(0, random.Next(2) == 0 ? 4 : Math.Max(4, maxItems / (2 * k))) : 0L).ToArray();
        }

        if (bounds && random.Next(2) == 0)
        {
            caps = weights.Select((_, i) => (minimums?[i] ?? 0) + random.NextInt64(0, Math.Max(2, maxItems / Math.Max(1, k - 1)))).ToArray();
        }

        long minimumSum = minimums?.Sum() ?? 0;
        long capacity = 0;
        for (var i = 0; i < k; i++)
        {
            capacity += weights[i] == 0 ? minimums?[i] ?? 0 : caps?[i] ?? maxItems;
        }

        var items = minimumSum + random.NextInt64(0, Math.Max(1, Math.Min(capacity, minimumSum + maxItems) - minimumSum + 1));
        return new Case(Math.Min(items, capacity), weights, minimums, caps);
    }
}
