using Exo.Gpu.Clustering.Distribution;
using static Exo.Gpu.Clustering.Orleans.Tests.Pool.ClusterPlannerTests;

namespace Exo.Gpu.Clustering.Orleans.Tests.Pool;

public class ClusterWorkDistributorTests
{
    private static GpuHostReport[] View(Random random, int hosts) =>
        [.. Enumerable.Range(0, hosts).Select(h => Report($"h{h}", [.. Enumerable.Range(0, random.Next(1, 4)).Select(_ => (long)random.Next(1, 81))]))];

    private static int DeviceOf(DistributionPlan plan, long item) => plan.Ranges.Single(r => item >= r.Offset && item < r.End).Device;

    [Fact]
    public void Plan_HostMajor_EachHostsRangeContiguousAndQuotaHeldPerDevice()
    {
        var hosts = new[] { Report("b", 80, 80), Report("a", 40), Report("c", 80, 80, 80) };

        var plan = ClusterWorkDistributor.Plan(1000, hosts, DeviceWeightSource.FreeMemory);

        plan.Devices.Select(d => d.Host.HostId).Should().Equal("a", "b", "b", "c", "c", "c");
        plan.Plan.Counts.Sum().Should().Be(1000);
        var total = 40.0 + (5 * 80);
        var weights = new[] { 40.0, 80, 80, 80, 80, 80 };
        for (var i = 0; i < weights.Length; i++)
        {
            var quota = 1000 * weights[i] / total;
            plan.Plan.Counts[i].Should().BeInRange((long)Math.Floor(quota), (long)Math.Ceiling(quota));
        }

        foreach (var host in plan.Hosts)
        {
            var ranges = plan.GetHostRanges(host).OrderBy(r => r.Offset).ToList();
            for (var i = 1; i < ranges.Count; i++)
            {
                ranges[i].Offset.Should().Be(ranges[i - 1].End, $"{host}'s items are one contiguous range");
            }
        }
    }

    [Fact]
    public void Rebalance_LostHost_MovesOnlyItsItemsToTheOtherHosts()
    {
        var random = new Random(9);
        for (var run = 0; run < 50; run++)
        {
            var hosts = View(random, random.Next(2, 5));
            var items = random.Next(0, 5000);
            var plan = ClusterWorkDistributor.Plan(items, hosts, DeviceWeightSource.FreeMemory);
            var lost = hosts[random.Next(hosts.Length)].Host;

            var after = plan.Rebalance(lost);

            after.GetHostCount(lost).Should().Be(0);
            after.Plan.Counts.Sum().Should().Be(items);
            for (var item = 0L; item < items; item += 1 + (items / 200))
            {
                var was = DeviceOf(plan.Plan, item);
                var now = DeviceOf(after.Plan, item);
                if (plan.Devices[was].Host != lost)
                {
                    now.Should().Be(was, $"run {run}: item {item} was not on the lost host");
                }
                else
                {
                    after.Devices[now].Host.Should().NotBe(lost);
                }
            }
        }
    }

    [Fact]
    public void Rebalance_HostNotInPlan_ThrowsNamingIt()
    {
        var plan = ClusterWorkDistributor.Plan(10, [Report("a", 80), Report("b", 80)]);

        FluentActions.Invoking(() => plan.Rebalance(new GpuHostIdentity("zz", 1))).Should().Throw<ArgumentException>().WithMessage("Host zz@1 is not in the plan.*");
    }

    [Fact]
    public void Plan_NoHealthyDeviceOrComputeWeights_ArgumentException()
    {
        FluentActions.Invoking(() => ClusterWorkDistributor.Plan(10, [Report("a", -80)])).Should().Throw<ArgumentException>().WithParameterName("hosts");
        FluentActions.Invoking(() => ClusterWorkDistributor.Plan(10, [Report("a", 80)], DeviceWeightSource.Compute)).Should().Throw<ArgumentException>().WithParameterName("source");
    }

    [Fact]
    public void PartitionLayers_AcrossHosts_RingOrderEachHostOneContiguousBlock()
    {
        var hosts = new[] { Report("c", 80), Report("a", 40, 40), Report("b", 80, 20, -80) };

        var plan = ClusterWorkDistributor.PartitionLayers(80, hosts, bytesPerLayer: ClusterPlannerTestsGiB);

        plan.Devices.Select(d => d.Host.HostId).Should().Equal("a", "a", "b", "b", "c");
        plan.Plan.Counts.Sum().Should().Be(80);
        var ranges = plan.Plan.Ranges.Where(r => !r.IsUnassigned).OrderBy(r => r.Offset).ToList();
        ranges.Select(r => r.Device).Should().BeInAscendingOrder("layers follow the ring: host by host, device by device");
        ranges.Zip(ranges.Skip(1)).Should().OnlyContain(p => p.First.End == p.Second.Offset);
        plan.Plan.Counts[3].Should().BeLessThanOrEqualTo(20, "a device holds no more layers than fit in its free memory");
    }

    private const long ClusterPlannerTestsGiB = 1L << 30;
}
