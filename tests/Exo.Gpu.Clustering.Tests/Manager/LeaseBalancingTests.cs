using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary>
/// Issue 17's load, through the manager on the simulated cluster of 8 equal H100s, in virtual time: with the default
/// options, short requests spread over every device.
/// </summary>
public class LeaseBalancingTests
{
    private static readonly GpuRequest OneGiB = new() { MemoryBytes = GiB };

    [Fact]
    public async Task AcquireAsync_3000ShortRequestsAtConcurrency32OnTheSimulatedCluster_EveryDeviceServesWithin25PercentOfTheMean()
    {
        const int requests = 3_000;
        const int concurrency = 32;
        var hold = TimeSpan.FromMilliseconds(50);
        var refresh = TimeSpan.FromMilliseconds(250);
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time, devices: 8);
        await using var stop = Stop(manager, time);
        var served = new int[8];
        var ends = new PriorityQueue<GpuLease, TimeSpan>();
        var elapsed = TimeSpan.Zero;
        var nextRefresh = refresh;
        var issued = 0;

        void Issue(TimeSpan at)
        {
            var pending = manager.AcquireAsync(OneGiB);
            pending.IsCompletedSuccessfully.Should().BeTrue("32 GiB in flight fit the cluster many times over");
            var lease = pending.Result;
            served[lease.Device.Index]++;
            ends.Enqueue(lease, at + hold);
            issued++;
        }

        for (var w = 0; w < concurrency; w++)
        {
            Issue(hold * w / concurrency);
        }

        while (ends.TryDequeue(out var lease, out var end))
        {
            time.Advance(end - elapsed);
            elapsed = end;
            if (elapsed >= nextRefresh)
            {
                await manager.RefreshTelemetryAsync().WaitAsync(Guard); // readings as a poller would take them
                nextRefresh += refresh;
            }

            await lease.DisposeAsync();
            if (issued < requests)
            {
                Issue(elapsed);
            }
        }

        var mean = requests / 8.0;
        served.Should().OnlyContain(s => s >= 0.75 * mean && s <= 1.25 * mean, $"every device serves within 25 % of the mean {mean} (served: {string.Join(", ", served)})");
        manager.GetLeaseSnapshot().Devices.Should().OnlyContain(d => d.ActiveLeases == 0 && d.ReservedBytes == 0);
    }

    [Fact]
    public async Task AcquireAsync_CapOf8LeasesPerDeviceOnTheSimulatedCluster_16ConcurrentRequestsUseAll8Devices()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time, devices: 8, configure: o => o.Selector.MaxLeasesPerDevice = 8);
        await using var stop = Stop(manager, time);
        var leases = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => manager.AcquireAsync(OneGiB).AsTask()))).WaitAsync(Guard);

        leases.Select(l => l.Device.Index).Distinct().Should().HaveCount(8);
        manager.GetLeaseSnapshot().Devices.Should().OnlyContain(d => d.ActiveLeases == 2);
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }
    }
}
