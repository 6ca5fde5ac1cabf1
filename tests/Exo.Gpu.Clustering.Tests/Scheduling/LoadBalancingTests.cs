using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

/// <summary>
/// Work in flight is spread over equal devices by the default strategy: the server case of issue 17, where short 1 GiB
/// requests all went to the device whose telemetry looked best, because the score counts reserved bytes only once they
/// exceed what other processes use, and not the leases in flight at all.
/// </summary>
public class LoadBalancingTests
{
    private static readonly GpuRequest OneGiB = new() { MemoryBytes = GiB };

    /// <summary>
    /// Eight equal 80 GiB devices whose readings differ as real ones do: other processes use 6-13 GiB, utilization and
    /// temperature vary a little from device to device.
    /// </summary>
    private static FakeDeviceStateSource EqualDevicesWithEverydayTelemetry(int count = 8)
    {
        var source = Uniform(count);
        for (var i = 0; i < count; i++)
        {
            source.SetSample(i, Sample(usedBytes: (6 + ((i * 5) % 8)) * GiB, util: 10 + ((i * 3) % 7), tempC: 40 + ((i * 7) % 9)));
        }

        return source;
    }

    [Fact]
    public async Task DefaultStrategy_3000ShortRequestsAtConcurrency32On8EqualDevices_EveryDeviceServesWithin25PercentOfTheMean()
    {
        // 3,000 requests of 1 GiB held 50 ms each, 32 in flight at any time, in virtual time (a discrete-event loop on a
        // FakeTimeProvider: each worker releases at the end of its hold and acquires its next request at once). The
        // readings change every 250 ms (seeded), as a poller's would, so the best-looking device moves around.
        const int requests = 3_000;
        const int concurrency = 32;
        const int devices = 8;
        var hold = TimeSpan.FromMilliseconds(50);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var source = EqualDevicesWithEverydayTelemetry(devices);
        var selector = Selectors.Create(source, time: time);
        var random = new Random(17);
        var served = new int[devices];
        var inFlight = new int[devices];
        var peak = new int[devices];
        var ends = new PriorityQueue<GpuLease, TimeSpan>();
        var elapsed = TimeSpan.Zero;
        var nextTelemetry = TimeSpan.FromMilliseconds(250);
        var issued = 0;

        async Task IssueAsync(TimeSpan at)
        {
            var pending = selector.AcquireAsync(OneGiB);
            pending.IsCompletedSuccessfully.Should().BeTrue("nothing bounds the leases here but memory, and 32 GiB fit");
            var lease = await pending;
            var index = lease.Device.Index;
            served[index]++;
            peak[index] = Math.Max(peak[index], ++inFlight[index]);
            ends.Enqueue(lease, at + hold);
            issued++;
        }

        // The workers start staggered over the first hold, so their releases interleave.
        for (var w = 0; w < concurrency; w++)
        {
            await IssueAsync(hold * w / concurrency);
        }

        while (ends.TryDequeue(out var lease, out var end))
        {
            time.Advance(end - elapsed);
            elapsed = end;
            while (elapsed >= nextTelemetry)
            {
                for (var i = 0; i < devices; i++)
                {
                    source.SetSample(i, Sample(usedBytes: random.Next(4, 16) * GiB, util: random.Next(5, 30), tempC: random.Next(35, 60)));
                }

                nextTelemetry += TimeSpan.FromMilliseconds(250);
            }

            inFlight[lease.Device.Index]--;
            await lease.DisposeAsync();
            if (issued < requests)
            {
                await IssueAsync(elapsed);
            }
        }

        served.Sum().Should().Be(requests);
        var mean = (double)requests / devices;
        served.Should().OnlyContain(s => s >= 0.75 * mean && s <= 1.25 * mean, $"every device serves within 25 % of the mean {mean} (served: {string.Join(", ", served)})");
        peak.Should().OnlyContain(p => p == concurrency / devices, $"work in flight is spread evenly: {concurrency / devices} leases per device at most (peaks: {string.Join(", ", peak)})");
        selector.FindInvariantViolation().Should().BeNull();
        Selectors.Leases(selector).Should().OnlyContain(l => l == 0);
    }

    [Fact]
    public async Task DefaultStrategy_CapOf8LeasesPerDevice_16ConcurrentRequestsUseAll8Devices()
    {
        // 16 requests from 16 threads at once, each held: the choice races (scans outside the lock, checked under it),
        // and still every device gets two.
        var selector = Selectors.Create(EqualDevicesWithEverydayTelemetry(), new DeviceSelectorOptions { Seed = 1, MaxLeasesPerDevice = 8 });
        using var go = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            go.Wait();
            return await selector.AcquireAsync(OneGiB);
        })).ToArray();
        go.Set();
        var leases = await Task.WhenAll(tasks).WaitAsync(Selectors.Guard);

        leases.Select(l => l.Device.Index).Distinct().Should().HaveCount(8, "16 concurrent requests use all 8 GPUs");
        Selectors.Leases(selector).Should().OnlyContain(l => l == 2);
        selector.FindInvariantViolation().Should().BeNull();
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        Selectors.Leases(selector).Should().OnlyContain(l => l == 0);
    }

    [Fact]
    public void DefaultStrategy_IsLeastLoaded() =>
        new DeviceSelectorOptions().DefaultStrategy.Should().Be(GpuSelectionStrategy.LeastLoaded);

    [Fact]
    public void LeastLoaded_FewestActiveLeasesFirst_EvenWhenTheDeviceLooksWorse()
    {
        // Device 0 is idle and cool, device 1 busy and warm; with a lease on 0, the next goes to 1.
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(usedBytes: 10 * GiB, util: 0, tempC: 30)));
        source.Add(Device(1), Healthy(Sample(usedBytes: 10 * GiB, util: 90, tempC: 80)));
        var selector = Selectors.Create(source);
        var request = new GpuRequest { MemoryBytes = GiB, Strategy = GpuSelectionStrategy.LeastLoaded };
        selector.TryAcquire(request, out var first).Should().BeTrue();
        first.Device.Index.Should().Be(0, "with no lease anywhere, the tie is broken by score");
        selector.TryAcquire(request, out var second).Should().BeTrue();
        second.Device.Index.Should().Be(1, "the device with fewer leases in flight comes first");
        selector.Explain(request).Chosen.Select(d => d.Index).Should().Equal(0);
    }

    [Fact]
    public void LeastLoaded_EqualLeaseCounts_SmallestReservedFractionFirst()
    {
        // One lease on each; device 0 (80 GiB) holds 40 GiB, device 1 (40 GiB) holds 10 GiB: by fraction 0.5 against
        // about 0.25, device 1 is the less loaded, although it has less memory free.
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample()));
        source.Add(Device(1, 40 * GiB), Healthy(Sample(40 * GiB)));
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 40 * GiB, IncludeIndexes = [0] }, out _).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = 10 * GiB, IncludeIndexes = [1] }, out _).Should().BeTrue();
        selector.Select(new GpuRequest { MemoryBytes = GiB, Strategy = GpuSelectionStrategy.LeastLoaded }).Index.Should().Be(1);
        selector.Select(new GpuRequest { MemoryBytes = GiB, Strategy = GpuSelectionStrategy.MostFreeMemory }).Index.Should().Be(0, "by free bytes the other device wins");
    }

    [Fact]
    public void LeastLoaded_Gang_TakesTheLeastLoadedDevices()
    {
        var selector = Selectors.Create(Uniform(4));
        selector.TryAcquire(new GpuRequest { MemoryBytes = GiB, IncludeIndexes = [1] }, out _).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = GiB, IncludeIndexes = [2] }, out _).Should().BeTrue();
        selector.SelectDevices(new GpuRequest { DeviceCount = 2, Strategy = GpuSelectionStrategy.LeastLoaded })
            .Select(d => d.Index).Order().Should().Equal(0, 3);
    }

    [Fact]
    public void BestFit_StaysAvailableForPacking_UnderTheNewDefault()
    {
        var selector = Selectors.Create(EqualDevicesWithEverydayTelemetry());
        var packing = new GpuRequest { MemoryBytes = GiB, Strategy = GpuSelectionStrategy.BestFit };
        var first = selector.TryAcquire(packing, out var a) ? a.Device.Index : -1;
        Enumerable.Range(0, 6).Select(_ => selector.TryAcquire(packing, out var l) ? l.Device.Index : -1).Should().OnlyContain(i => i == first, "best fit packs one device");
    }

    [Fact]
    public void StrategyNames_LeastLoaded_IsLeastLoadedOnTheCommandLine()
    {
        Exo.Gpu.Clustering.Cli.StrategyNames.Of(GpuSelectionStrategy.LeastLoaded).Should().Be("least-loaded");
        Exo.Gpu.Clustering.Cli.StrategyNames.Parse("least-loaded").Should().Be(GpuSelectionStrategy.LeastLoaded);
    }
}
