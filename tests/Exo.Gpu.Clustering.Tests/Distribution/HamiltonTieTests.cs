using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

/// <summary>
/// Hamilton's tie rule (equal remainders: the lower index gets the item) holds exactly, also where the floating-point
/// quotas of equal remainders differ in their last bits.
/// </summary>
public class HamiltonTieTests
{
    [Fact]
    public void Plan_ThreeItemsOverOneSevenOne_TieGoesToLowerIndex()
    {
        // Quotas 1/3, 7/3, 1/3: remainders 1/3 each, so the third item goes to device 0, not device 1.
        var plan = WorkloadDistributor.Plan(3, [1, 7, 1]);

        plan.Counts.Should().Equal(1, 2, 0);
    }

    [Fact]
    public void Plan_EveryCaseOfThreeDevicesWithWeightsOneToSevenUpTo24Items_MatchesExactReference()
    {
        var mismatches = new List<string>();
        for (long w0 = 1; w0 <= 7; w0++)
        {
            for (long w1 = 1; w1 <= 7; w1++)
            {
                for (long w2 = 1; w2 <= 7; w2++)
                {
                    long[] weights = [w0, w1, w2];
                    for (long items = 0; items <= 24; items++)
                    {
                        var counts = Reference.Apportion(items, weights.AsDoubles());
                        var expected = Reference.Hamilton(items, weights);
                        if (!counts.SequenceEqual(expected))
                        {
                            mismatches.Add($"{items} over [{string.Join(",", weights)}]: [{string.Join(",", counts)}], exact [{string.Join(",", expected)}]");
                        }
                    }
                }
            }
        }

        mismatches.Should().BeEmpty();
    }

    [Fact]
    public void Plan_FractionalWeightsWithEqualRemainders_TieGoesToLowerIndex()
    {
        // As doubles, 0.4 is exactly 4 × 0.1: the quotas are 1/3, 4/3 and 1/3, so devices 0 and 2 tie for the last item.
        var plan = WorkloadDistributor.Plan(2, [0.1, 0.4, 0.1]);

        plan.Counts.Should().Equal(1, 1, 0);
    }

    [Fact]
    public void Plan_RandomSmallMultiplesOfOneLargeWeight_MatchesExactReference()
    {
        // Weights 1..9 times 1,000,003: N × w / W is inexact in floating point, and ties are frequent.
        var random = new Random(211);
        for (var n = 0; n < 3000; n++)
        {
            var k = random.Next(2, 9);
            var weights = Enumerable.Range(0, k).Select(_ => random.Next(1, 10) * 1_000_003L).ToArray();
            var items = random.NextInt64(0, 200);
            var counts = Reference.Apportion(items, weights.AsDoubles());
            counts.Should().Equal(Reference.Hamilton(items, weights), $"{items} over [{string.Join(",", weights)}]");
        }
    }

    [Fact]
    public void Plan_BoundedTieAmongFreeDevices_TieGoesToLowerIndex()
    {
        // Device 3 is held at its cap of 1; the free devices share the other 3 items as 1/3, 7/3, 1/3.
        var plan = WorkloadDistributor.Plan(4, [1, 7, 1, 100], caps: [10, 10, 10, 1]);

        plan.Counts.Should().Equal(1, 2, 0, 1);
    }
}
