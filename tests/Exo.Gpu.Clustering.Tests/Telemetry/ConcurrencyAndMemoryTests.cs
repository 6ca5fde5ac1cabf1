using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

[Collection(TimingSensitive.Name)]
public class ConcurrencyAndMemoryTests
{
    /// <summary>A reading whose every value is derived from <paramref name="k"/>, so a mix of two readings is detectable.</summary>
    private static GpuSample Coherent(long k, DateTimeOffset at) => new()
    {
        Timestamp = at,
        UtilizationPercent = k % 101,
        MemoryUtilizationPercent = k % 101,
        TemperatureC = k % 97,
        PowerW = k,
        PowerLimitW = k + 1,
        MemoryUsedBytes = k,
        MemoryTotalBytes = k + 1,
        EccCorrectedErrors = k,
        EccUncorrectedErrors = 0,
        SmClockMHz = (int)(k % 100_000),
    };

    private static void AssertCoherent(in GpuSample s)
    {
        var k = s.PowerW!.Value;
        var ok = s.MemoryUsedBytes == (long)k
            && s.MemoryTotalBytes == (long)k + 1
            && s.PowerLimitW == k + 1
            && s.EccCorrectedErrors == (long)k
            && s.UtilizationPercent == k % 101
            && s.MemoryUtilizationPercent == k % 101
            && s.TemperatureC == k % 97
            && s.SmClockMHz == (int)((long)k % 100_000);
        if (!ok)
        {
            throw new InvalidOperationException($"Torn reading: power {k}, used {s.MemoryUsedBytes}, ecc {s.EccCorrectedErrors}, util {s.UtilizationPercent}.");
        }
    }

    [Fact]
    public async Task ConcurrentWritersAndReaders_NeverSeeATornReading()
    {
        var time = new FakeTimeProvider(Start);
        var options = Options(capacity: 64);
        options.TemperatureDegradedC = null;
        options.TemperatureUnhealthyC = null;
        options.PowerDegradedFraction = null;
        await using var collector = Collector(time, devices: 2, options: options);
        IDeviceStateSource source = collector;
        var uuids = collector.Devices.Select(d => d.Uuid).ToArray();
        const int PerWriter = 150_000;
        var writersDone = 0;
        long reads = 0;
        using var startTogether = new Barrier(6); // every thread runs at once: readers overlap the writers

        // Two writers per device; equal timestamps are accepted, so concurrent writers never trip the order rule.
        var writers = Enumerable.Range(0, 4).Select(w => Task.Factory.StartNew(() =>
        {
            startTogether.SignalAndWait();
            var uuid = uuids[w % 2];
            for (long i = 0; i < PerWriter; i++)
            {
                collector.Record(uuid, Coherent((w * 10_000_000L) + i, Start));
            }

            Interlocked.Increment(ref writersDone);
        }, TaskCreationOptions.LongRunning)).ToArray();

        var readers = Enumerable.Range(0, 2).Select(r => Task.Factory.StartNew(() =>
        {
            startTogether.SignalAndWait();
            var buffer = new GpuSample[64];
            do
            {
                var state = source.GetState(r);
                if (state.HasFreshSample)
                {
                    AssertCoherent(state.Sample);
                }

                var n = collector.CopyHistory(uuids[r], buffer);
                for (var i = 0; i < n; i++)
                {
                    AssertCoherent(buffer[i]);
                }

                if (collector.GetStatus(uuids[1 - r]).Latest is { } latest)
                {
                    AssertCoherent(latest);
                }

                if (Volatile.Read(ref writersDone) < 4)
                {
                    Interlocked.Increment(ref reads); // a read that overlapped the writers
                }
            }
            while (Volatile.Read(ref writersDone) < 4);
        }, TaskCreationOptions.LongRunning)).ToArray();

        await Task.WhenAll(writers.Concat(readers)).WaitAsync(TimeSpan.FromMinutes(2));
        Interlocked.Read(ref reads).Should().BeGreaterThan(0, "some reads must have overlapped the writers");
        foreach (var uuid in uuids)
        {
            var history = collector.GetHistory(uuid);
            history.Should().HaveCount(64);
            foreach (var s in history)
            {
                AssertCoherent(s);
            }
        }
    }

    [Fact]
    public async Task Record_TenMillionSamples_ManagedHeapStaysBounded()
    {
        var time = new FakeTimeProvider(Start);
        const int Devices = 8;
        const int Capacity = 600;
        await using var collector = Collector(time, devices: Devices, options: Options(capacity: Capacity));
        var uuids = collector.Devices.Select(d => d.Uuid).ToArray();
        for (var d = 0; d < Devices; d++)
        {
            collector.Record(uuids[d], Sample(Start)); // first readings publish Unknown -> Healthy (allocates, once)
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        const int Total = 10_000_000;
        for (var i = 0; i < Total; i++)
        {
            // 10,000,000 readings 100 ns apart: one second of simulated time, all fresh.
            var sample = new GpuSample
            {
                Timestamp = Start.AddTicks(i + 1),
                UtilizationPercent = i % 100,
                TemperatureC = 40 + (i % 30),
                PowerW = 100 + (i % 500),
                PowerLimitW = 700,
                MemoryUsedBytes = i,
                MemoryTotalBytes = TotalMemory,
            };
            collector.Record(uuids[i % Devices], sample);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);

        allocated.Should().BeLessThan(64 * 1024, "recording allocates nothing per reading");
        (heapAfter - heapBefore).Should().BeLessThan(1024 * 1024, "the history is preallocated: devices x capacity x sample size");
        foreach (var uuid in uuids)
        {
            collector.GetHistory(uuid).Should().HaveCount(Capacity);
        }

        collector.GetHistory(uuids[7])[^1].MemoryUsedBytes.Should().Be(Total - 1);
    }
}
