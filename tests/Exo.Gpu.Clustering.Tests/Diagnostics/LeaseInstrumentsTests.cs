using Exo.Gpu.Clustering.Diagnostics;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Tests.Scheduling;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Diagnostics;

/// <summary>The scheduler's per-device instruments, the wait histogram's buckets and the abandoned-request counter.</summary>
public class LeaseInstrumentsTests
{
    [Fact]
    public async Task ReservedAndActive_PerDevice_GangCountsOnEachDevice()
    {
        var source = Uniform(3);
        await using var selector = Selectors.Create(source);
        using var reserved = new MetricCollector<long>(selector.Metrics.Reserved);
        using var active = new MetricCollector<long>(selector.Metrics.Active);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 5 * GiB, DeviceCount = 2, IncludeIndexes = [0, 2] }, out var gang).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = 10 * GiB, IncludeIndexes = [0] }, out var single).Should().BeTrue();

        reserved.RecordObservableInstruments();
        active.RecordObservableInstruments();

        PerDevice(reserved).Should().Equal((Uuid(0), 15 * GiB), (Uuid(1), 0L), (Uuid(2), 5 * GiB));
        PerDevice(active).Should().Equal((Uuid(0), 2L), (Uuid(1), 0L), (Uuid(2), 1L));
        PerDevice(reserved).Select(d => d.Item2).Should().Equal(Selectors.Reserved(selector));

        await gang.DisposeAsync();
        await single.DisposeAsync();
        active.Clear();
        active.RecordObservableInstruments();
        PerDevice(active).Should().OnlyContain(d => d.Item2 == 0).And.HaveCount(3);
    }

    [Fact]
    public async Task ReservedAndActive_SelectorDisposed_ReportNothing()
    {
        var selector = Selectors.Create(Uniform(2));
        using var reserved = new MetricCollector<long>(selector.Metrics.Reserved);
        await selector.DisposeAsync();
        reserved.RecordObservableInstruments();
        reserved.GetMeasurementSnapshot().Should().BeEmpty();
    }

    [Fact]
    public async Task WaitDuration_AdvisesSecondScaleBuckets_WaitsOfSecondsLandApart()
    {
        await using var selector = Selectors.Create(Uniform(1));
        var boundaries = selector.Metrics.WaitDuration.Advice!.HistogramBucketBoundaries!;

        boundaries.Should().Equal(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300);
        boundaries.Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        Bucket(boundaries, 0.02).Should().BeLessThan(Bucket(boundaries, 0.3)).And.BeLessThan(Bucket(boundaries, 3))
            .And.BeLessThan(Bucket(boundaries, 90), "waits of 20 ms, 300 ms, 3 s and 90 s each have their bucket");
        Bucket(boundaries, 0.3).Should().BeLessThan(Bucket(boundaries, 3));
        Bucket(boundaries, 3).Should().BeLessThan(Bucket(boundaries, 90));
        selector.Metrics.WaitDuration.Unit.Should().Be("s");
    }

    [Fact]
    public async Task Abandoned_CancelledWhileWaiting_CountedAsCancelled()
    {
        await using var selector = Selectors.Create(Uniform(1));
        using var abandoned = new MetricCollector<long>(selector.Metrics.Abandoned);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB }, out var blocker).Should().BeTrue();
        using var cts = new CancellationTokenSource();
        var waiting = selector.AcquireAsync(new GpuRequest { MemoryBytes = 20 * GiB }, cts.Token).AsTask();
        var never = selector.AcquireAsync(new GpuRequest { MemoryBytes = 20 * GiB }, new CancellationToken(canceled: true)).AsTask();

        await cts.CancelAsync();

        await waiting.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<OperationCanceledException>();
        await never.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<OperationCanceledException>();
        abandoned.GetMeasurementSnapshot().Should().ContainSingle("a call cancelled before it was made never waited")
            .Which.Tags[GpuInstruments.ErrorTypeAttribute].Should().Be("cancelled");
        await blocker.DisposeAsync();
    }

    [Fact]
    public async Task Abandoned_TimeoutHook_CountedAsTimeout()
    {
        await using var selector = Selectors.Create(Uniform(1));
        using var abandoned = new MetricCollector<long>(selector.Metrics.Abandoned);

        selector.Metrics.OnTimedOut();

        abandoned.GetMeasurementSnapshot().Should().ContainSingle().Which.Tags["error.type"].Should().Be("timeout");
        abandoned.Instrument!.Unit.Should().Be("{request}");
    }

    private static (string?, long)[] PerDevice(MetricCollector<long> collector) =>
        [.. collector.GetMeasurementSnapshot().Select(m => ((string?)m.Tags["hw.id"], m.Value)).OrderBy(d => d.Item1, StringComparer.Ordinal)];

    private static int Bucket(IReadOnlyList<double> boundaries, double value)
    {
        var i = 0;
        while (i < boundaries.Count && value > boundaries[i])
        {
            i++;
        }

        return i;
    }
}
