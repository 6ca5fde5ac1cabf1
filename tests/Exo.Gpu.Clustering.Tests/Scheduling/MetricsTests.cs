using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class MetricsTests
{
    [Fact]
    public async Task Instruments_RecordGrantsReleasesRevocationsQueueDepthAndWaitTime()
    {
        var time = new FakeTimeProvider();
        var source = Uniform(1);
        var selector = Selectors.Create(source, time: time);
        var metrics = selector.Metrics;
        using var granted = new MetricCollector<long>(metrics.Granted);
        using var released = new MetricCollector<long>(metrics.Released);
        using var revoked = new MetricCollector<long>(metrics.Revoked);
        using var active = new MetricCollector<long>(metrics.Active);
        using var depth = new MetricCollector<long>(metrics.QueueDepth);
        using var wait = new MetricCollector<double>(metrics.WaitDuration);

        var blocker = await selector.AcquireAsync(new GpuRequest { MemoryBytes = 70 * GiB });
        var waiting = selector.AcquireAsync(new GpuRequest { MemoryBytes = 20 * GiB }).AsTask();
        Sum(depth).Should().Be(1);
        time.Advance(TimeSpan.FromSeconds(3));
        await blocker.DisposeAsync();
        var lease = await waiting.WaitAsync(Selectors.Guard);
        Sum(depth).Should().Be(0);
        wait.GetMeasurementSnapshot().Select(m => m.Value).Should().Equal(0, 3);

        source.ChangeHealth(0, GpuHealth.Lost);
        await Selectors.WhenCancelled(lease.Token);
        await lease.DisposeAsync();

        Sum(granted).Should().Be(2);
        Sum(released).Should().Be(1);
        Sum(revoked).Should().Be(1);
        active.RecordObservableInstruments();
        active.LastMeasurement!.Value.Should().Be(0);
        metrics.Granted.Meter.Name.Should().Be("Exo.Gpu.Clustering");
        new[] { metrics.Granted.Name, metrics.Released.Name, metrics.Revoked.Name, metrics.Active.Name, metrics.QueueDepth.Name, metrics.WaitDuration.Name }
            .Should().OnlyContain(n => n.StartsWith("exo.gpu.", StringComparison.Ordinal));
        metrics.WaitDuration.Unit.Should().Be("s");
    }

    [Fact]
    public async Task Instruments_ShutdownCountsRevocationsAndEmptiesTheQueue()
    {
        var selector = Selectors.Create(Uniform(1));
        using var revoked = new MetricCollector<long>(selector.Metrics.Revoked);
        using var depth = new MetricCollector<long>(selector.Metrics.QueueDepth);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB }, out _).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = 1 * GiB }, out _).Should().BeTrue();
        var waiting = selector.AcquireAsync(new GpuRequest { MemoryBytes = 20 * GiB }).AsTask();
        selector.BeginShutdown();
        await waiting.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<ObjectDisposedException>();
        Sum(revoked).Should().Be(2);
        Sum(depth).Should().Be(0);
    }

    private static long Sum(MetricCollector<long> collector) => collector.GetMeasurementSnapshot().Sum(m => m.Value);
}
