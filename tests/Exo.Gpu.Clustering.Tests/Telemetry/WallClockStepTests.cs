using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;
using Exo.Gpu.Clustering.Telemetry;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

/// <summary>
/// Wall-clock steps (minus 1 minute, plus 1 hour) while the monotonic clock runs on steadily: readings stamped by the
/// stepped wall clock change no health, no freshness, no order and no hold time.
/// </summary>
public class WallClockStepTests
{
    private static readonly string Uuid = Device(0).Uuid;

    private static List<GpuHealthChange> Watch(TelemetryCollector collector)
    {
        var changes = new List<GpuHealthChange>();
        ((IDeviceStateSource)collector).HealthChanged += changes.Add;
        return changes;
    }

    [Fact]
    public async Task Record_WallClockSteppedBackThenForward_NoHealthChange_HistoryAndSummaryOrdered()
    {
        var time = new SteppingTimeProvider(Start);
        await using var collector = Collector(time);
        var changes = Watch(collector);
        for (var i = 0; i < 30; i++)
        {
            if (i == 10)
            {
                time.StepWallClock(TimeSpan.FromMinutes(-1));
            }
            else if (i == 20)
            {
                time.StepWallClock(TimeSpan.FromHours(1));
            }

            // Stamped by the (stepped) wall clock, as a backend does.
            collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: i));
            var state = ((IDeviceStateSource)collector).GetState(0);
            state.Health.Should().Be(GpuHealth.Healthy, "reading {0}", i);
            state.SampleAge.Should().Be(TimeSpan.Zero);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        changes.Select(c => (c.Previous, c.Current)).Should().Equal((GpuHealth.Unknown, GpuHealth.Healthy));
        var status = collector.GetStatus(Uuid);
        status.ConsecutiveFailures.Should().Be(0);
        status.IsFresh.Should().BeTrue("the newest reading was recorded 1 s ago");

        // History in arrival order, stamps kept as they came (with the steps in them).
        var history = collector.GetHistory(Uuid);
        history.Select(s => s.TemperatureC).Should().Equal(Enumerable.Range(0, 30).Select(i => (double?)i));
        history[10].Timestamp.Should().Be(Start.AddSeconds(10).AddMinutes(-1));
        history[20].Timestamp.Should().Be(Start.AddSeconds(20).AddMinutes(-1).AddHours(1));

        // Windows on the monotonic clock: the last 10 s holds the last 10 readings, whatever they are stamped.
        collector.GetHistory(Uuid, TimeSpan.FromSeconds(10)).Select(s => s.TemperatureC).Should().Equal(Enumerable.Range(20, 10).Select(i => (double?)i));
        var summary = collector.Summarize(Uuid, TelemetryMetric.Temperature, TimeSpan.FromMinutes(5))!.Value;
        summary.Count.Should().Be(30);
        summary.Last.Should().Be(29);
        summary.To.Should().Be(time.GetUtcNow() - TimeSpan.FromSeconds(1), "the newest reading was recorded 1 s ago on the wall clock as it reads now");
        (summary.To - summary.From).Should().Be(TimeSpan.FromSeconds(29));
    }

    [Fact]
    public async Task Record_ReadingStampedInTheFuture_DoesNotLockTheDeviceOut()
    {
        // One reading stamped an hour ahead (a backend's clock was wrong for a moment): later, correctly stamped
        // readings are still accepted, judged and current.
        var time = new SteppingTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start.AddHours(1), temperature: 50));
        time.Advance(TimeSpan.FromSeconds(1));

        collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: 90));

        collector.GetHistory(Uuid).Select(s => s.TemperatureC).Should().Equal(50, 90);
        var state = ((IDeviceStateSource)collector).GetState(0);
        state.Health.Should().Be(GpuHealth.Degraded, "the 90 °C reading was judged");
        state.Sample.TemperatureC.Should().Be(90);
        collector.GetStatus(Uuid).ConsecutiveFailures.Should().Be(0);
    }

    [Fact]
    public async Task HoldTime_WallClockSteppedForward_DoesNotShortenIt()
    {
        var time = new SteppingTimeProvider(Start);
        await using var collector = Collector(time, options: Options(hold: TimeSpan.FromSeconds(10)));
        collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: 90)); // Degraded from 85 °C, until below 80 °C for 10 s
        for (var i = 1; i <= 9; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            if (i == 5)
            {
                time.StepWallClock(TimeSpan.FromHours(1));
            }

            collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: 70));
            collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Degraded, "only {0} s below 80 °C on the monotonic clock", i - 1);
        }

        time.Advance(TimeSpan.FromSeconds(2));
        time.StepWallClock(TimeSpan.FromMinutes(-1));
        collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: 70));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy, "10 s below 80 °C, and a step back does not lengthen the hold");
    }

    [Fact]
    public async Task CriticalEvent_WithDuration_WallClockSteppedForward_HoldsForItsDurationOnTheMonotonicClock()
    {
        var time = new SteppingTimeProvider(Start);
        var options = Options();
        options.CriticalEventHealthDuration = TimeSpan.FromSeconds(30);
        await using var collector = Collector(time, options: options);
        collector.Record(Uuid, Sample(time.GetUtcNow()));
        collector.ApplyEvent(new GpuDeviceEvent(Uuid, GpuDeviceEventKind.CriticalXid, 79, time.GetUtcNow())).Should().BeTrue();
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy);

        time.StepWallClock(TimeSpan.FromHours(1));
        time.Advance(TimeSpan.FromSeconds(29));
        collector.Record(Uuid, Sample(time.GetUtcNow()));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy, "29 s of its 30 s have passed");

        time.Advance(TimeSpan.FromSeconds(1));
        collector.Record(Uuid, Sample(time.GetUtcNow()));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task Poller_WallClockSteppedBack_ReadingsRecordedNeverCountedAsFailures()
    {
        var logs = new FakeLoggerFactory();
        var time = new SteppingTimeProvider(Start);
        await using var collector = new TelemetryCollector(TelemetryTestKit.Devices(2), Options(), time, logs);
        var backend = new WallStampingBackend(time);
        await using var poller = new TelemetryPoller(backend, collector);
        for (var i = 0; i < 8; i++)
        {
            if (i == 3)
            {
                time.StepWallClock(TimeSpan.FromMinutes(-1));
            }

            await poller.PollOnceAsync(Guard());
            time.Advance(TimeSpan.FromSeconds(1));
        }

        collector.GetStatuses().Should().OnlyContain(s => s.Health == GpuHealth.Healthy && s.ConsecutiveFailures == 0 && s.IsFresh);
        collector.GetHistory(Uuid).Should().HaveCount(8);
        logs.Collector.GetSnapshot().Should().NotContain(r => r.Id.Id == LogEventIds.SampleFailed);
    }

    /// <summary>A backend that stamps every reading with the clock's (possibly stepped) wall time, as the NVML backend does.</summary>
    private sealed class WallStampingBackend(TimeProvider time) : IGpuBackend
    {
        public GpuBackendKind Kind => GpuBackendKind.Simulated;

        public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken) => new(TelemetryTestKit.Devices(2));

        public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken) => new(Sample(time.GetUtcNow()));

        public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
