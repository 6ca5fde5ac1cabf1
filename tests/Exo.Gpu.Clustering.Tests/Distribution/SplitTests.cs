using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

/// <summary>Slices and ranges: contiguous, in order, every item exactly once, the caller's memory shared, never copied.</summary>
public class SplitTests
{
    [Fact]
    public void Split_RandomCases_SlicesContiguousOrderedCoverEveryItemOnceAndShareMemory()
    {
        var random = new Random(801);
        for (var n = 0; n < 2000; n++)
        {
            var c = Case.Draw(random, maxDevices: 20, maxItems: 3000, maxWeight: 100, bounds: true);
            var items = Enumerable.Range(0, (int)c.Items).ToArray();
            var slices = new ReadOnlyMemory<int>[c.Weights.Length];
            var method = (ApportionmentMethod)(n % 3);
            var unassigned = WorkloadDistributor.Split<int>(items, c.DoubleWeights, slices, method, c.Minimums, c.Caps);

            unassigned.Should().Be(0);
            var expected = Reference.Apportion(c.Items, c.DoubleWeights, method, c.Minimums, c.Caps);
            var next = 0;
            for (var i = 0; i < slices.Length; i++)
            {
                slices[i].Length.Should().Be((int)expected[i]);
                MemoryMarshal.TryGetArray(slices[i], out var segment).Should().BeTrue();
                segment.Array.Should().BeSameAs(items, "a slice is a view of the caller's array, not a copy");
                segment.Offset.Should().Be(next, "slices follow each other in device order with no gap or overlap");
                next += segment.Count;
            }

            next.Should().Be(items.Length, "every item is in exactly one slice");
        }
    }

    [Fact]
    public void Split_Slices_AliasTheOriginalElements()
    {
        var items = Enumerable.Range(0, 100).ToArray();
        var slices = new ReadOnlyMemory<int>[3];
        WorkloadDistributor.Split<int>(items, [1, 2, 1], slices);
        slices.Select(s => s.Length).Should().Equal(25, 50, 25);
        Unsafe.AreSame(ref MemoryMarshal.GetReference(slices[1].Span), ref items[25]).Should().BeTrue();
        slices[2].Span[0].Should().Be(75);
    }

    [Fact]
    public void Split_AllowUnassigned_LastItemsInNoSlice()
    {
        var items = Enumerable.Range(0, 10).ToArray();
        var slices = new ReadOnlyMemory<int>[3];
        var unassigned = WorkloadDistributor.Split<int>(items, [1, 1, 1], slices, caps: [2, 2, 2], allowUnassigned: true);
        unassigned.Should().Be(4);
        slices.SelectMany(s => s.ToArray()).Should().Equal(0, 1, 2, 3, 4, 5);
    }

    [Fact]
    public void Split_ManyDevices_PooledScratchStillExact()
    {
        var items = new byte[100_000];
        var weights = Enumerable.Range(1, 300).Select(i => (double)i).ToArray();
        var slices = new ReadOnlyMemory<byte>[300];
        WorkloadDistributor.Split<byte>(items, weights, slices, ApportionmentMethod.Webster);
        slices.Sum(s => s.Length).Should().Be(100_000);
    }

    [Fact]
    public void SplitRanges_OneRangePerDeviceInDeviceOrderEmptyOnesIncluded()
    {
        var ranges = new ItemRange[4];
        var unassigned = WorkloadDistributor.SplitRanges(7, [1, 0, 1, 1], ranges);
        unassigned.Should().Be(0);
        ranges.Should().Equal(new ItemRange(0, 0, 3), new ItemRange(1, 3, 0), new ItemRange(2, 3, 2), new ItemRange(3, 5, 2));
    }

    [Fact]
    public void Plan_RangesCoverItemsOnceInDeviceOrder()
    {
        var plan = WorkloadDistributor.Plan(10, [1, 0, 2, 2]);
        plan.Counts.Should().Equal(2, 0, 4, 4);
        plan.Ranges.Should().Equal(new ItemRange(0, 0, 2), new ItemRange(2, 2, 4), new ItemRange(3, 6, 4));
        plan.GetRanges(1).Should().BeEmpty();
        plan.GetRanges(2).Should().Equal(new ItemRange(2, 2, 4));
        plan.GetRanges(ItemRange.UnassignedDevice).Should().BeEmpty();
        plan.TotalItems.Should().Be(10);
        plan.Assigned.Should().Be(10);
        plan.DeviceCount.Should().Be(4);
        plan.LostDevices.Should().BeEmpty();
        plan.ToString().Should().Be("hamilton 2/0/4/4");
    }

    [Fact]
    public void Plan_GetSlices_ViewsOfCallerMemory()
    {
        var items = Enumerable.Range(0, 10).Select(i => $"item{i}").ToArray();
        var plan = WorkloadDistributor.Plan(items.Length, [1, 1, 3]);
        var slices = plan.GetSlices<string>(items, 2);
        slices.Should().ContainSingle();
        MemoryMarshal.TryGetArray(slices[0], out var segment).Should().BeTrue();
        segment.Array.Should().BeSameAs(items);
        segment.Offset.Should().Be(4);
        segment.Count.Should().Be(6);
    }

    [Fact]
    public void Plan_GetSlices_WrongItemCountOrDevice_Throws()
    {
        var plan = WorkloadDistributor.Plan(10, [1, 1]);
        var wrongLength = () => plan.GetSlices<int>(new int[9], 0);
        wrongLength.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("items");
        var wrongDevice = () => plan.GetSlices<int>(new int[10], 2);
        wrongDevice.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("device");
        var negative = () => plan.GetRanges(-2);
        negative.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("device");
    }

    [Fact]
    public void Plan_Unassigned_ToStringShowsIt()
    {
        WorkloadDistributor.Plan(10, [1, 1, 1], ApportionmentMethod.DHondt, caps: [2, 2, 2], allowUnassigned: true)
            .ToString().Should().Be("dhondt 2/2/2 (unassigned 4)");
    }
}
