using System.Collections.Concurrent;
using static Exo.Gpu.Clustering.Orleans.Tests.Cluster.ClusterFixture;

namespace Exo.Gpu.Clustering.Orleans.Tests.Cluster;

/// <summary>Many clients at once on the shared cluster, counted independently of the hosts.</summary>
[Collection(ClusterTestGroup.Name)]
public sealed class ClusterLoadTests(ClusterFixture fixture)
{
    private const int Clients = 16;
    private const int RequestsPerClient = 500;
    private static readonly string[] Hosts = ["Silo_0", "Silo_1", "Silo_2"];

    [Fact]
    public async Task SixteenClients_EveryRequestSentTwice_NoOversubscriptionOneLeasePerIdCountersBalance()
    {
        var before = await Task.WhenAll(Hosts.Select(fixture.ReportOf));
        var capacity = before.SelectMany(h => h.Devices).ToDictionary(d => d.Uuid, d => d.TotalMemoryBytes);
        var reserved = new ConcurrentDictionary<string, long>();
        var fences = new ConcurrentDictionary<(string, GpuFencingToken), string>();
        int oversubscriptions = 0, granted = 0, refused = 0, parts = 0, duplicates = 0;
        var run = Guid.NewGuid().ToString("N")[..8];

        await Task.WhenAll(Enumerable.Range(0, Clients).Select(client => Task.Run(async () =>
        {
            await using var pool = fixture.NewPool();
            var random = new Random(client + 1);
            for (var i = 0; i < RequestsPerClient; i++)
            {
                var gang = random.Next(4) == 0;
                var request = new ClusterGpuRequest
                {
                    RequestId = $"load-{run}-{client}-{i}",
                    MemoryBytes = random.Next(5, 61) * GiB,
                    DeviceCount = gang ? 2 : 1,
                    Placement = gang ? GangPlacement.StrictPack : GangPlacement.Pack,
                };
                ClusterLease[] sent;
                try
                {
                    sent = await Task.WhenAll(pool.AcquireAsync(request), pool.AcquireAsync(request)); // every request sent twice
                }
                catch (ClusterCapacityException)
                {
                    Interlocked.Increment(ref refused);
                    continue;
                }

                var lease = sent[0];
                if (!ReferenceEquals(sent[0], sent[1]))
                {
                    Interlocked.Increment(ref duplicates);
                }

                Interlocked.Increment(ref granted);
                Interlocked.Add(ref parts, lease.Parts.Count);
                foreach (var part in lease.Parts)
                {
                    fences.TryAdd((part.Host.HostId, part.Fence), request.RequestId).Should().BeTrue("a fence names one grant");
                    foreach (var uuid in part.DeviceUuids)
                    {
                        if (reserved.AddOrUpdate(uuid, part.MemoryBytes, (_, v) => v + part.MemoryBytes) > capacity[uuid])
                        {
                            Interlocked.Increment(ref oversubscriptions);
                        }
                    }
                }

                await Task.Yield();
                foreach (var part in lease.Parts)
                {
                    foreach (var uuid in part.DeviceUuids)
                    {
                        reserved.AddOrUpdate(uuid, 0, (_, v) => v - part.MemoryBytes);
                    }
                }

                (await lease.ReleaseAsync()).Should().Be(ClusterReleaseResult.Released);
            }
        })));

        oversubscriptions.Should().Be(0);
        duplicates.Should().Be(0);
        granted.Should().BeGreaterThan(Clients * RequestsPerClient / 2, $"{refused} refused");
        await WaitUntilAsync(async () => (await Task.WhenAll(Hosts.Select(fixture.ReportOf))).All(r => r.ActiveLeases == 0), "every host at rest");
        var after = await Task.WhenAll(Hosts.Select(fixture.ReportOf));
        after.Zip(before).Sum(p => p.First.Granted - p.Second.Granted).Should().Be(parts, "each host granted each request id once: no second lease for any id");
        foreach (var host in after)
        {
            host.Granted.Should().Be(host.Released + host.Revoked + host.Expired, $"{host.Host} at rest");
        }
    }
}
