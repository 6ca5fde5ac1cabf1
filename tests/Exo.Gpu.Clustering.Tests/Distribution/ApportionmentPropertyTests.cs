using System.Numerics;
using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

/// <summary>Properties over thousands of seeded random cases; each failure message names the case.</summary>
public class ApportionmentPropertyTests
{
    private static readonly ApportionmentMethod[] Methods = Enum.GetValues<ApportionmentMethod>();

    [Theory]
    [InlineData(ApportionmentMethod.Hamilton, 101)]
    [InlineData(ApportionmentMethod.Webster, 102)]
    [InlineData(ApportionmentMethod.DHondt, 103)]
    public void Apportion_RandomBoundedCases_SumToItemsWithinBounds(ApportionmentMethod method, int seed)
    {
        var random = new Random(seed);
        for (var n = 0; n < 3000; n++)
        {
            var c = Case.Draw(random, maxDevices: 16, maxItems: 5000, maxWeight: 1000, bounds: true);
            var counts = Reference.Apportion(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps);
            counts.Sum().Should().Be(c.Items, c.ToString());
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i].Should().BeGreaterThanOrEqualTo(c.Minimums?[i] ?? 0, c.ToString());
                if (c.Caps is not null)
                {
                    counts[i].Should().BeLessThanOrEqualTo(c.Caps[i], c.ToString());
                }

                if (c.Weights[i] == 0)
                {
                    counts[i].Should().Be(c.Minimums?[i] ?? 0, "a device of weight 0 holds only its minimum; " + c);
                }
            }
        }
    }

    [Fact]
    public void Hamilton_RandomUnboundedCases_MatchesExactReferenceAndQuotaRule()
    {
        var random = new Random(201);
        for (var n = 0; n < 4000; n++)
        {
            var c = Case.Draw(random, maxDevices: 12, maxItems: 1_000_000, maxWeight: 1_000_000, bounds: false);
            var counts = Reference.Apportion(c.Items, c.DoubleWeights);
            counts.Should().Equal(Reference.Hamilton(c.Items, c.Weights), c.ToString());

            var total = new BigInteger(c.Weights.Sum());
            for (var i = 0; i < counts.Length; i++)
            {
                var floor = (long)BigInteger.DivRem(new BigInteger(c.Items) * c.Weights[i], total, out var remainder);
                var ceiling = remainder.IsZero ? floor : floor + 1;
                counts[i].Should().BeInRange(floor, ceiling, "the quota rule; " + c);
            }
        }
    }

    [Fact]
    public void Hamilton_RandomRealWeights_QuotaRule()
    {
        var random = new Random(202);
        for (var n = 0; n < 3000; n++)
        {
            var k = random.Next(1, 65);
            var weights = Enumerable.Range(0, k).Select(_ => random.Next(6) == 0 ? 0 : random.NextDouble() * Math.Pow(10, random.Next(-3, 12))).ToArray();
            if (weights.All(w => w == 0))
            {
                weights[0] = 1;
            }

            var items = random.NextInt64(0, 10_000_000_000);
            var counts = Reference.Apportion(items, weights);
            counts.Sum().Should().Be(items);
            var total = weights.Sum();
            for (var i = 0; i < k; i++)
            {
                var quota = items * weights[i] / total;
                counts[i].Should().BeInRange((long)Math.Floor(quota * (1 - 1e-12)), (long)Math.Ceiling(quota * (1 + 1e-12)), $"quota {quota}, case {n}");
            }
        }
    }

    [Fact]
    public void Hamilton_RandomBoundedCases_EachCountFloorOrCeilingOfWaterFilledQuota()
    {
        var random = new Random(203);
        for (var n = 0; n < 3000; n++)
        {
            var c = Case.Draw(random, maxDevices: 16, maxItems: 5000, maxWeight: 1000, bounds: true);
            var counts = Reference.Apportion(c.Items, c.DoubleWeights, ApportionmentMethod.Hamilton, c.Minimums, c.Caps);
            var quotas = Reference.WaterFilledQuotas(c.Items, c.DoubleWeights, c.Minimums, c.Caps);
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i].Should().BeInRange((long)Math.Floor(quotas[i] + 1e-7), (long)Math.Ceiling(quotas[i] - 1e-7), $"quota {quotas[i]}; {c}");
            }
        }
    }

    [Theory]
    [InlineData(ApportionmentMethod.Webster, 301)]
    [InlineData(ApportionmentMethod.DHondt, 302)]
    public void DivisorMethods_RandomBoundedCases_MatchItemByItemReference(ApportionmentMethod method, int seed)
    {
        var random = new Random(seed);
        for (var n = 0; n < 3000; n++)
        {
            var c = Case.Draw(random, maxDevices: 12, maxItems: 400, maxWeight: 60, bounds: true);
            var counts = Reference.Apportion(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps);
            counts.Should().Equal(Reference.Divisor(c.Items, c.Weights, method, c.Minimums, c.Caps), c.ToString());
        }
    }

    [Theory]
    [InlineData(ApportionmentMethod.Webster, 401)]
    [InlineData(ApportionmentMethod.DHondt, 402)]
    public void DivisorMethods_RandomCases_HouseMonotone(ApportionmentMethod method, int seed)
    {
        var random = new Random(seed);
        for (var n = 0; n < 400; n++)
        {
            var c = Case.Draw(random, maxDevices: 10, maxItems: 120, maxWeight: 1000, bounds: true);
            var minimumSum = c.Minimums?.Sum() ?? 0;
            var capacity = c.Weights.Select((w, i) => w == 0 ? c.Minimums?[i] ?? 0 : c.Caps?[i] ?? 10_000).Sum();
            var previous = Reference.Apportion(minimumSum, c.DoubleWeights, method, c.Minimums, c.Caps);
            for (var items = minimumSum + 1; items <= Math.Min(capacity, minimumSum + 120); items++)
            {
                var next = Reference.Apportion(items, c.DoubleWeights, method, c.Minimums, c.Caps);
                for (var i = 0; i < next.Length; i++)
                {
                    next[i].Should().BeGreaterThanOrEqualTo(previous[i], $"{items - 1} -> {items} items must not lower device {i}; {c}");
                }

                previous = next;
            }
        }
    }

    [Theory]
    [InlineData(ApportionmentMethod.Webster, 501)]
    [InlineData(ApportionmentMethod.DHondt, 502)]
    public void DivisorMethods_RandomLargeCases_NoDeviceOutsideOutranksADeviceInside(ApportionmentMethod method, int seed)
    {
        // The divisor-method certificate: the highest priority of any next item is at most the lowest priority of any
        // item given above a minimum. Checks huge item counts the item-by-item reference cannot reach.
        var offset = method == ApportionmentMethod.DHondt ? 1.0 : 0.5;
        var random = new Random(seed);
        for (var n = 0; n < 2000; n++)
        {
            var k = random.Next(1, 65);
            var weights = Enumerable.Range(0, k).Select(_ => random.Next(8) == 0 ? 0 : (double)random.NextInt64(1, 1L << 40)).ToArray();
            if (weights.All(w => w == 0))
            {
                weights[0] = 1;
            }

            var caps = random.Next(2) == 0 ? null : weights.Select(_ => random.NextInt64(0, 1L << 36)).ToArray();
            var capacity = weights.Select((w, i) => w == 0 ? 0 : caps?[i] ?? long.MaxValue / 128).Sum();
            var items = Math.Min(capacity, random.NextInt64(0, 1L << 40));
            var counts = Reference.Apportion(items, weights, method, caps: caps);
            counts.Sum().Should().Be(items);

            var highestNext = double.NegativeInfinity;
            var lowestLast = double.PositiveInfinity;
            for (var i = 0; i < k; i++)
            {
                counts[i].Should().BeLessThanOrEqualTo(caps?[i] ?? long.MaxValue);
                if (weights[i] == 0)
                {
                    counts[i].Should().Be(0);
                    continue;
                }

                if (caps is null || counts[i] < caps[i])
                {
                    highestNext = Math.Max(highestNext, weights[i] / (counts[i] + offset));
                }

                if (counts[i] > 0)
                {
                    lowestLast = Math.Min(lowestLast, weights[i] / (counts[i] - 1 + offset));
                }
            }

            highestNext.Should().BeLessThanOrEqualTo(lowestLast, $"case {n}");
        }
    }

    [Fact]
    public void Apportion_RandomCases_SameInputSameOutputAcrossOverloads()
    {
        var random = new Random(601);
        for (var n = 0; n < 2000; n++)
        {
            var c = Case.Draw(random, maxDevices: 16, maxItems: 100_000, maxWeight: 1000, bounds: true);
            var method = Methods[n % Methods.Length];
            var first = Reference.Apportion(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps);
            var second = Reference.Apportion(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps);
            second.Should().Equal(first, c.ToString());

            var ints = new int[c.Weights.Length];
            WorkloadDistributor.Apportion(
                (int)c.Items,
                c.DoubleWeights,
                ints,
                method,
                c.Minimums?.Select(m => (int)m).ToArray(),
                c.Caps?.Select(x => (int)x).ToArray());
            ints.Select(x => (long)x).Should().Equal(first, c.ToString());

            var plan = WorkloadDistributor.Plan(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps);
            plan.Counts.Should().Equal(first);
            plan.Method.Should().Be(method);
        }
    }

    [Fact]
    public void Apportion_RandomCases_WeightsScaledByPowerOfTwo_SameCounts()
    {
        var random = new Random(701);
        for (var n = 0; n < 2000; n++)
        {
            var c = Case.Draw(random, maxDevices: 16, maxItems: 10_000, maxWeight: 1000, bounds: true);
            var method = Methods[n % Methods.Length];
            var scaled = c.DoubleWeights.Select(w => w * 1024).ToArray();
            Reference.Apportion(c.Items, scaled, method, c.Minimums, c.Caps)
                .Should().Equal(Reference.Apportion(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps), c.ToString());
        }
    }
}
