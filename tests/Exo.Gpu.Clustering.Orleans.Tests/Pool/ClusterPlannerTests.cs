using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Orleans.Pool;

namespace Exo.Gpu.Clustering.Orleans.Tests.Pool;

/// <summary>Planning on the directory's view: which hosts and how many devices on each.</summary>
public class ClusterPlannerTests
{
    private const long GiB = 1L << 30;
    private static readonly HashSet<string> None = [];

    internal static GpuHostReport Report(string id, params long[] freeGiB) => new()
    {
        Host = new GpuHostIdentity(id, 1),
        Sequence = 1,
        Silo = "S127.0.0.1:11111:1",
        Devices = [.. freeGiB.Select((f, i) => new GpuHostDeviceReport
        {
            Uuid = $"GPU-{id}-{i}", Index = i, Name = "H100", Health = f < 0 ? GpuHealth.Unhealthy : GpuHealth.Healthy,
            TotalMemoryBytes = 80 * GiB, CapacityBytes = 80 * GiB, FreeBytes = Math.Abs(f) * GiB,
        })],
        ValidFor = TimeSpan.FromSeconds(3),
    };

    private static ClusterGpuRequest Request(int count, long gib, GangPlacement placement = GangPlacement.Pack) =>
        new() { RequestId = "r", DeviceCount = count, MemoryBytes = gib * GiB, Placement = placement };

    private static List<(string, int)> Plan(ClusterGpuRequest request, params GpuHostReport[] hosts) =>
        ClusterPlanner.Plan(hosts, request, None) is { } plan ? [.. plan.Select(p => (p.Host.Host.HostId, p.Devices))] : [];

    [Fact]
    public void Plan_SingleDevice_BestFitHost()
    {
        Plan(Request(1, 10), Report("a", 80, 80), Report("b", 12, 80), Report("c", 5)).Should().Equal(("b", 1));
    }

    [Fact]
    public void Plan_UnhealthyOrTooSmall_NotCounted()
    {
        ClusterPlanner.Fits(Report("a", -80, 20, 9), Request(1, 10)).Should().Be(1);
    }

    [Fact]
    public void Plan_PackFitsOneHost_OneHost()
    {
        Plan(Request(2, 10), Report("a", 80, 80, 80), Report("b", 80, 80)).Should().Equal(("b", 2));
    }

    [Fact]
    public void Plan_PackNeedsSeveral_FewestHostsRoomiestFirst()
    {
        Plan(Request(5, 10), Report("a", 80), Report("b", 80, 80, 80), Report("c", 80, 80)).Should().Equal(("b", 3), ("c", 2));
    }

    [Fact]
    public void Plan_StrictPackNoSingleHost_Nothing()
    {
        ClusterPlanner.Plan([Report("a", 80, 80), Report("b", 80, 80)], Request(3, 10, GangPlacement.StrictPack), None).Should().BeNull();
    }

    [Fact]
    public void Plan_StrictSpread_DistinctHostsOneEach()
    {
        Plan(Request(3, 10, GangPlacement.StrictSpread), Report("a", 80), Report("b", 80, 80), Report("c", 80, 80, 80), Report("d", 5))
            .Should().Equal(("c", 1), ("b", 1), ("a", 1));
    }

    [Fact]
    public void Plan_StrictSpreadTooFewHosts_Nothing()
    {
        ClusterPlanner.Plan([Report("a", 80, 80, 80), Report("b", 80)], Request(3, 10, GangPlacement.StrictSpread), None).Should().BeNull();
    }

    [Fact]
    public void Plan_Spread_RoundRobinOverHosts()
    {
        Plan(Request(5, 10, GangPlacement.Spread), Report("a", 80), Report("b", 80, 80, 80), Report("c", 80, 80)).Should().Equal(("b", 2), ("c", 2), ("a", 1));
    }

    [Fact]
    public void Plan_ExcludedHost_LeftOut()
    {
        ClusterPlanner.Plan([Report("a", 80), Report("b", 80)], Request(1, 10), new HashSet<string> { "a" })!.Single().Host.Host.HostId.Should().Be("b");
    }

    [Fact]
    public void Plan_AnyPlacementRandomViews_PartsSumToTheCountOnFittingDevicesOrNothingWhenTooFew()
    {
        var random = new Random(5);
        for (var i = 0; i < 500; i++)
        {
            var hosts = Enumerable.Range(0, random.Next(1, 6)).Select(h => Report($"h{h}", [.. Enumerable.Range(0, random.Next(1, 5)).Select(_ => (long)random.Next(-80, 81))])).ToList();
            var request = Request(random.Next(1, 8), random.Next(0, 60), (GangPlacement)random.Next(4));
            var fits = hosts.ToDictionary(h => h.Host.HostId, h => ClusterPlanner.Fits(h, request));
            var plan = ClusterPlanner.Plan(hosts, request, None);
            var possible = request.Placement switch
            {
                GangPlacement.StrictPack => fits.Values.Any(f => f >= request.DeviceCount),
                GangPlacement.StrictSpread => fits.Values.Count(f => f > 0) >= request.DeviceCount,
                _ => fits.Values.Sum() >= request.DeviceCount,
            };
            (plan is not null).Should().Be(possible, $"case {i}");
            if (plan is not null)
            {
                plan.Sum(p => p.Devices).Should().Be(request.DeviceCount);
                plan.Should().OnlyContain(p => p.Devices >= 1 && p.Devices <= fits[p.Host.Host.HostId]);
                plan.Select(p => p.Host.Host.HostId).Should().OnlyHaveUniqueItems();
                if (request.Placement == GangPlacement.StrictSpread)
                {
                    plan.Should().OnlyContain(p => p.Devices == 1);
                }
            }
        }
    }
}
