using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

public class RebalanceTests
{
    [Fact]
    public void Rebalance_LostMiddleDevice_ItsItemsSplitInDeviceOrderAndJoinNeighbours()
    {
        var plan = WorkloadDistributor.Plan(10, [1, 1, 1]);
        plan.Ranges.Should().Equal(new ItemRange(0, 0, 4), new ItemRange(1, 4, 3), new ItemRange(2, 7, 3));

        var after = WorkloadDistributor.Rebalance(plan, 1, [1, 1, 1]);

        after.Counts.Should().Equal(6, 0, 4);
        after.Ranges.Should().Equal(new ItemRange(0, 0, 6), new ItemRange(2, 6, 4));
        after.LostDevices.Should().Equal(1);
        after.Unassigned.Should().Be(0);
        plan.Counts.Should().Equal(new long[] { 4, 3, 3 }, "the input plan is immutable");
    }

    [Fact]
    public void Rebalance_LostFirstDevice_SurvivorsGetExtraRanges()
    {
        var plan = WorkloadDistributor.Plan(12, [2, 1, 1]);
        var after = WorkloadDistributor.Rebalance(plan, 0, [2, 1, 1]);
        after.Counts.Should().Equal(0, 6, 6);
        after.Ranges.Should().Equal(new ItemRange(1, 0, 3), new ItemRange(2, 3, 3), new ItemRange(1, 6, 3), new ItemRange(2, 9, 3));
        after.GetRanges(1).Should().Equal(new ItemRange(1, 0, 3), new ItemRange(1, 6, 3));
        var items = Enumerable.Range(0, 12).ToArray();
        after.GetSlices<int>(items, 1).Select(s => s.ToArray()).Should().BeEquivalentTo(new[] { new[] { 0, 1, 2 }, new[] { 6, 7, 8 } }, o => o.WithStrictOrdering());
    }

    [Fact]
    public void Rebalance_RandomPlans_OnlyTheLostDevicesItemsMoveAndPlanStaysExact()
    {
        var random = new Random(1001);
        for (var n = 0; n < 2000; n++)
        {
            var c = Case.Draw(random, maxDevices: 10, maxItems: 400, maxWeight: 50, bounds: true);
            if (c.Weights.Length < 2)
            {
                continue;
            }

            var method = (ApportionmentMethod)(n % 3);
            var plan = WorkloadDistributor.Plan(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps);
            var before = Owners(plan);
            var lost = random.Next(c.Weights.Length);
            var weights = c.DoubleWeights;
            weights[(lost + 1) % weights.Length] += 1; // at least one survivor with a positive weight
            var caps = c.Caps?.Select(x => x + random.Next(0, 50)).ToArray();

            DistributionPlan after;
            try
            {
                after = WorkloadDistributor.Rebalance(plan, lost, weights, caps, allowUnassigned: n % 2 == 0);
            }
            catch (InsufficientCapacityException e)
            {
                (n % 2).Should().Be(1, "only without allowUnassigned");
                e.ParamName.Should().Be("caps");
                continue;
            }

            var now = Owners(after);
            for (var item = 0; item < before.Length; item++)
            {
                if (before[item] != lost)
                {
                    now[item].Should().Be(before[item], $"item {item} was not on the lost device; case {c}");
                }
                else
                {
                    now[item].Should().NotBe(lost);
                }
            }

            after.Counts[lost].Should().Be(0);
            (after.Counts.Sum() + after.Unassigned).Should().Be(c.Items);
            after.Method.Should().Be(method);
            for (var i = 0; i < c.Weights.Length; i++)
            {
                after.Counts[i].Should().Be(now.Count(o => o == i));
                if (caps is not null && plan.Counts[i] <= caps[i])
                {
                    after.Counts[i].Should().BeLessThanOrEqualTo(caps[i], c.ToString());
                }

                if (i != lost && weights[i] == 0)
                {
                    after.Counts[i].Should().Be(plan.Counts[i], "a survivor of weight 0 takes nothing");
                }
            }

            after.Ranges.All(r => r.Count > 0).Should().BeTrue("empty ranges are left out");
            after.Ranges.Zip(after.Ranges.Skip(1)).All(p => p.First.End == p.Second.Offset && p.First.Device != p.Second.Device)
                .Should().BeTrue("ranges tile the items and adjacent ranges of one device are joined");
        }
    }

    [Fact]
    public void Rebalance_TwoLosses_EarlierLostDeviceReceivesNothing()
    {
        var plan = WorkloadDistributor.Plan(30, [1, 1, 1]);
        var once = WorkloadDistributor.Rebalance(plan, 0, [1, 1, 1]);
        var twice = WorkloadDistributor.Rebalance(once, 1, [1, 1, 1]);
        twice.Counts.Should().Equal(0, 0, 30);
        twice.LostDevices.Should().Equal(0, 1);
        twice.Ranges.Should().Equal(new ItemRange(2, 0, 30));
    }

    [Fact]
    public void Rebalance_DeviceWithNoItems_NothingMovesButItIsMarkedLost()
    {
        var plan = WorkloadDistributor.Plan(4, [1, 0, 1]);
        var after = WorkloadDistributor.Rebalance(plan, 1, [1, 1, 1]);
        after.Counts.Should().Equal(plan.Counts);
        after.Ranges.Should().Equal(plan.Ranges);
        after.LostDevices.Should().Equal(1);
    }

    [Fact]
    public void Rebalance_SurvivorsCapsTooSmall_ThrowsNamingCaps()
    {
        var plan = WorkloadDistributor.Plan(9, [1, 1, 1]);
        var act = () => WorkloadDistributor.Rebalance(plan, 2, [1, 1, 1], caps: [4, 4, 4]);
        var thrown = act.Should().Throw<InsufficientCapacityException>().Which;
        thrown.ParamName.Should().Be("caps");
        thrown.Items.Should().Be(3);
        thrown.Capacity.Should().Be(2);
    }

    [Fact]
    public void Rebalance_SurvivorsCapsTooSmall_AllowUnassigned_LastLostItemsUnassigned()
    {
        var plan = WorkloadDistributor.Plan(9, [1, 1, 1]);
        var after = WorkloadDistributor.Rebalance(plan, 1, [1, 1, 1], caps: [4, 4, 4], allowUnassigned: true);
        after.Counts.Should().Equal(4, 0, 4);
        after.Unassigned.Should().Be(1);
        after.Ranges.Should().Equal(new ItemRange(0, 0, 4), new ItemRange(2, 4, 1), new ItemRange(ItemRange.UnassignedDevice, 5, 1), new ItemRange(2, 6, 3));
    }

    [Fact]
    public void Rebalance_UsesThePlansMethod()
    {
        // The lost device's 10 items over weights 11 and ten 1s: D'Hondt gives all of them to the large weight.
        double[] weights = [0, 11, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        var plan = WorkloadDistributor.Plan(10, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], ApportionmentMethod.DHondt);
        var after = WorkloadDistributor.Rebalance(plan, 0, weights);
        after.Counts.Should().Equal(0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    [Fact]
    public void Rebalance_BadArguments_ThrowNamingThem()
    {
        var plan = WorkloadDistributor.Plan(9, [1, 1, 1]);
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(null!, 0, [1, 1, 1]))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("plan");
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(plan, 3, [1, 1, 1]))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("lostDevice");
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(plan, -1, [1, 1, 1]))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("lostDevice");
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(plan, 0, [1, 1]))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("weights");
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(plan, 0, [1, double.NaN, 1]))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("weights");
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(plan, 0, [1, 0, 0]))
            .Should().Throw<ArgumentException>().WithMessage("No surviving device*").Which.ParamName.Should().Be("weights");
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(plan, 0, [1, 1, 1], caps: [1, 1]))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("caps");
        FluentActions.Invoking(() => WorkloadDistributor.Rebalance(plan, 0, [1, 1, 1], caps: [1, -1, 1]))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("caps");
    }

    /// <summary>Which device holds each item (-1: unassigned), from the plan's ranges; checks they tile [0, N).</summary>
    private static int[] Owners(DistributionPlan plan)
    {
        var owners = new int[plan.TotalItems];
        long next = 0;
        foreach (var range in plan.Ranges)
        {
            range.Offset.Should().Be(next, "ranges tile the items in order");
            for (var i = range.Offset; i < range.End; i++)
            {
                owners[i] = range.Device;
            }

            next = range.End;
        }

        next.Should().Be(plan.TotalItems);
        return owners;
    }
}
