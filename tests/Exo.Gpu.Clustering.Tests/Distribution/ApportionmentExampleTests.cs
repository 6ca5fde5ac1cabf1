using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

/// <summary>
/// The earlier Python design's faults (scheduling.md section 1, items 1 and 2), each as a named regression test, and
/// the published apportionment examples.
/// </summary>
public class ApportionmentExampleTests
{
    private static readonly double[] AlabamaWeights = [1500, 1500, 900, 500, 500, 200];

    // --- Fault 1: a uniform split with a per-device cap dropped items silently (3 devices, 10 items, cap 2 -> 6 placed, 4 lost).

    [Fact]
    public void Regression_UniformSplitCap2_TenItemsThreeDevices_ThrowsInsteadOfDroppingFour()
    {
        var counts = new long[3];
        var act = () => WorkloadDistributor.Apportion(10L, [1, 1, 1], counts, caps: [2L, 2, 2]);
        var thrown = act.Should().Throw<InsufficientCapacityException>().Which;
        thrown.ParamName.Should().Be("caps");
        thrown.Items.Should().Be(10);
        thrown.Capacity.Should().Be(6);
        counts.Should().Equal(0, 0, 0);
    }

    [Fact]
    public void Regression_UniformSplitCap2_AllowUnassigned_ReportsTheFourItems()
    {
        var counts = new long[3];
        var unassigned = WorkloadDistributor.Apportion(10L, [1, 1, 1], counts, caps: [2L, 2, 2], allowUnassigned: true);
        counts.Should().Equal(2, 2, 2);
        unassigned.Should().Be(4);
        (counts.Sum() + unassigned).Should().Be(10);
    }

    [Fact]
    public void Regression_UniformSplitCap2_Plan_UnassignedItemsAreTheLastRange()
    {
        var plan = WorkloadDistributor.Plan(10, [1, 1, 1], caps: [2, 2, 2], allowUnassigned: true);
        plan.Unassigned.Should().Be(4);
        plan.Ranges[^1].Should().Be(new ItemRange(ItemRange.UnassignedDevice, 6, 4));
    }

    // --- Fault 2: max(1, floor(N·p)) with the rest to the largest device was not exact.

    [Fact]
    public void Regression_ZeroWeightDevice_TwoItems_GetsNothingAndEachWeightOneDeviceOne()
    {
        Reference.Apportion(2, [0, 1, 1]).Should().Equal(0, 1, 1);
    }

    [Fact]
    public void Regression_FourEqualDevices_SevenItems_Gives2221()
    {
        Reference.Apportion(7, [1, 1, 1, 1]).Should().Equal(2, 2, 2, 1);
    }

    [Fact]
    public void Regression_Weights334_NineItems_SatisfiesQuotaRule()
    {
        // Quotas 2.7 / 2.7 / 3.6: every count must be the floor or the ceiling; the old design gave 2/2/5.
        var counts = Reference.Apportion(9, [3, 3, 4]);
        counts.Should().Equal(3, 3, 3);
    }

    // --- Published examples.

    [Fact]
    public void Hamilton_AlabamaParadox_TwentyFiveThenTwentySix_DAndELoseAnItem()
    {
        // The documented trade of Hamilton (ApportionmentMethod remarks): not house-monotone.
        Reference.Apportion(25, AlabamaWeights).Should().Equal(7, 7, 4, 3, 3, 1);
        Reference.Apportion(26, AlabamaWeights).Should().Equal(8, 8, 5, 2, 2, 1);
    }

    [Theory]
    [InlineData(ApportionmentMethod.Webster)]
    [InlineData(ApportionmentMethod.DHondt)]
    public void DivisorMethods_AlabamaWeights_TwentyFiveThenTwentySix_NoCountDrops(ApportionmentMethod method)
    {
        var before = Reference.Apportion(25, AlabamaWeights, method);
        var after = Reference.Apportion(26, AlabamaWeights, method);
        after.Zip(before, (a, b) => a - b).Should().OnlyContain(d => d >= 0).And.Contain(1);
    }

    [Fact]
    public void DHondt_ElevenAgainstTenOnes_TenItems_AllToTheLargeWeight()
    {
        // Quota of the large weight is 5.24: D'Hondt breaks the upper quota.
        double[] weights = [11, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        Reference.Apportion(10, weights, ApportionmentMethod.DHondt).Should().Equal(10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    [Fact]
    public void Webster_ElevenAgainstTenOnes_TenItems_Gives6AndFourOnesByLowerIndex()
    {
        // 11/11 ties with 1/1 for the sixth item of the large weight and the first of each small one: lower index first.
        double[] weights = [11, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        Reference.Apportion(10, weights, ApportionmentMethod.Webster).Should().Equal(6, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0);
    }

    [Fact]
    public void Hamilton_ElevenAgainstTenOnes_TenItems_StaysWithinQuota()
    {
        double[] weights = [11, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        Reference.Apportion(10, weights).Should().Equal(5, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0);
    }

    // --- Ties, zero weights, minimums and caps.

    [Theory]
    [InlineData(ApportionmentMethod.Hamilton)]
    [InlineData(ApportionmentMethod.Webster)]
    [InlineData(ApportionmentMethod.DHondt)]
    public void AllMethods_EqualWeights_TiesGoToLowerIndex(ApportionmentMethod method)
    {
        Reference.Apportion(1, [1, 1, 1], method).Should().Equal(1, 0, 0);
        Reference.Apportion(2, [1, 1, 1], method).Should().Equal(1, 1, 0);
        Reference.Apportion(5, [2, 2, 2, 2], method).Should().Equal(2, 1, 1, 1);
    }

    [Theory]
    [InlineData(ApportionmentMethod.Hamilton)]
    [InlineData(ApportionmentMethod.Webster)]
    [InlineData(ApportionmentMethod.DHondt)]
    public void AllMethods_ZeroItems_AllZero(ApportionmentMethod method)
    {
        Reference.Apportion(0, [3, 1, 4], method).Should().Equal(0, 0, 0);
    }

    [Theory]
    [InlineData(ApportionmentMethod.Hamilton)]
    [InlineData(ApportionmentMethod.Webster)]
    [InlineData(ApportionmentMethod.DHondt)]
    public void AllMethods_OneCappedDevice_CapHeldAndRestShared(ApportionmentMethod method)
    {
        // Water-filling: device 0 would take 50 of 100, its cap is 10; the other 90 split 3:2:1... by weights 3/2/1.
        var counts = Reference.Apportion(100, [6, 3, 2, 1], method, caps: [10, 1000, 1000, 1000]);
        counts.Should().Equal(10, 45, 30, 15);
    }

    [Fact]
    public void Hamilton_CapBelowShare_WaterFillsAndKeepsQuotaOfTheRest()
    {
        var counts = Reference.Apportion(10, [1, 1, 1, 1], caps: [1, 100, 100, 100]);
        counts.Should().Equal(1, 3, 3, 3);
    }

    [Fact]
    public void Apportion_ZeroWeightWithMinimum_GetsExactlyItsMinimum()
    {
        // An explicit minimum wins over weight 0, but weight 0 never takes more than its minimum.
        Reference.Apportion(5, [0, 1], minimums: [2, 0]).Should().Equal(2, 3);
        Reference.Apportion(5, [0, 1], ApportionmentMethod.Webster, minimums: [2, 0]).Should().Equal(2, 3);
    }

    [Fact]
    public void Apportion_MinimumAboveShare_RaisedAndOthersShareTheRest()
    {
        Reference.Apportion(10, [1, 9], minimums: [4, 0]).Should().Equal(4, 6);
    }

    [Fact]
    public void Apportion_ZeroWeightDeviceWithRoomInCap_TakesNoOverflow()
    {
        var act = () => Reference.Apportion(5, [0, 1], caps: [10, 3]);
        act.Should().Throw<InsufficientCapacityException>().Which.Capacity.Should().Be(3);
    }

    [Fact]
    public void Apportion_CapsExactlyHoldItems_EveryDeviceAtCap()
    {
        Reference.Apportion(6, [5, 1, 1], caps: [2, 2, 2]).Should().Equal(2, 2, 2);
    }

    [Fact]
    public void Apportion_IntCounts_SameAsLongCounts()
    {
        var ints = new int[6];
        var unassigned = WorkloadDistributor.Apportion(25, AlabamaWeights, ints);
        unassigned.Should().Be(0);
        ints.Should().Equal(7, 7, 4, 3, 3, 1);

        var capped = new int[3];
        WorkloadDistributor.Apportion(10, [1, 1, 1], capped, ApportionmentMethod.Webster, caps: [2, 2, 2], allowUnassigned: true).Should().Be(4);
        capped.Should().Equal(2, 2, 2);
    }

    [Fact]
    public void Apportion_ThroughputWeights_FollowsMeasuredRates()
    {
        // A measured throughput (items per second) is passed as the weights.
        Reference.Apportion(1000, [100.5, 201, 698.5]).Should().Equal(101, 201, 698);
    }

    [Fact]
    public void Apportion_FractionalWeights_ScaleInvariant()
    {
        Reference.Apportion(10, [0.1, 0.2, 0.7]).Should().Equal(Reference.Apportion(10, [1, 2, 7]));
    }

    [Fact]
    public void Apportion_LargeItemCount_ExactUpToMaxItems()
    {
        var counts = Reference.Apportion(WorkloadDistributor.MaxItems, [1, 1, 1]);
        counts.Sum().Should().Be(WorkloadDistributor.MaxItems);
        counts.Max().Should().BeLessThanOrEqualTo(counts.Min() + 1);
    }

    [Fact]
    public void Apportion_ManyDevices_UsesPooledScratchAndStaysExact()
    {
        var weights = Enumerable.Range(0, 1000).Select(i => (double)((i % 7) + 1)).ToArray();
        foreach (var method in Enum.GetValues<ApportionmentMethod>())
        {
            var counts = Reference.Apportion(123_457, weights, method);
            counts.Sum().Should().Be(123_457);
        }
    }
}
