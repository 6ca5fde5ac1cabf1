using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

[Collection(TimingSensitive.Name)]
public class TelemetryPollerTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(250);

    private sealed class Rig : IAsyncDisposable
    {
        public Rig(string faults, int devices = 4, FakeLoggerFactory? logs = null)
        {
            Time = new FakeTimeProvider(Start);
            Backend = new SimulatedGpuBackend(new SimulatedGpuBackendOptions
            {
                DeviceCount = devices,
                Faults = faults,
            }, Time);
            Collector = new TelemetryCollector(
                Backend.AllDevices,
                new TelemetryOptions { PollInterval = Interval, SampleTimeout = Timeout, MaxBackoff = TimeSpan.FromSeconds(8), StalenessLimit = TimeSpan.FromSeconds(5) },
                Time,
                logs);
            Poller = new TelemetryPoller(Backend, Collector) { AttemptCompleted = o => Outcomes.Writer.TryWrite(o) };
        }

        public FakeTimeProvider Time { get; }

        public SimulatedGpuBackend Backend { get; }

        public TelemetryCollector Collector { get; }

        public TelemetryPoller Poller { get; }

        public Channel<PollOutcome> Outcomes { get; } = Channel.CreateUnbounded<PollOutcome>();

        public List<PollOutcome> Seen { get; } = [];

        /// <summary>Reads outcomes until every slot in <paramref name="slots"/> was sampled at <paramref name="tick"/>.</summary>
        public async Task WaitForSamplesAsync(DateTimeOffset tick, params int[] slots)
        {
            var pending = new HashSet<int>(slots);
            var guard = Guard();
            while (pending.Count > 0)
            {
                var o = await Outcomes.Reader.ReadAsync(guard);
                Seen.Add(o);
                if (o.Result == PollResult.Sampled && o.StartedAt == tick)
                {
                    pending.Remove(o.Slot);
                }
            }
        }

        public async Task<PollOutcome> WaitForAsync(Func<PollOutcome, bool> match)
        {
            var guard = Guard();
            while (true)
            {
                var o = await Outcomes.Reader.ReadAsync(guard);
                Seen.Add(o);
                if (match(o))
                {
                    return o;
                }
            }
        }

        public void DrainSeen()
        {
            while (Outcomes.Reader.TryRead(out var o))
            {
                Seen.Add(o);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Poller.DisposeAsync();
            await Collector.DisposeAsync();
            await Backend.DisposeAsync();
        }
    }

    [Fact]
    public async Task Poller_OneThrowingOneHanging_OthersKeepTheirCadence()
    {
        await using var rig = new Rig("throw:1@0s,hang:2@0s");
        await rig.Poller.StartAsync(CancellationToken.None);
        const int Ticks = 8;
        int[] retries = [0, 1, 3, 7]; // seconds: back-off waits of 1, 2 and 4 intervals after each failure
        for (var k = 0; k < Ticks; k++)
        {
            var tick = Start + (k * Interval);
            await rig.WaitForSamplesAsync(tick, 0, 3);
            rig.Time.Advance(Timeout);
            if (retries.Contains(k))
            {
                // The hanging read started at this tick times out (and is released) before the next tick.
                (await rig.WaitForAsync(o => o.Slot == 2)).Should().Be(new PollOutcome(2, rig.Backend.AllDevices[2].Uuid, PollResult.TimedOut, tick));
            }

            rig.Time.Advance(Interval - Timeout);
        }

        await rig.WaitForSamplesAsync(Start + (Ticks * Interval), 0, 3);
        await rig.Poller.StopAsync(Guard());
        rig.DrainSeen();

        // The healthy devices were read at every tick, exactly once, and recorded with the tick's timestamp.
        foreach (var slot in new[] { 0, 3 })
        {
            rig.Seen.Where(o => o.Slot == slot).Select(o => (o.Result, o.StartedAt))
                .Should().Equal(Enumerable.Range(0, Ticks + 1).Select(k => (PollResult.Sampled, Start + (k * Interval))));
            rig.Collector.GetHistory(rig.Backend.AllDevices[slot].Uuid).Select(s => s.Timestamp)
                .Should().Equal(Enumerable.Range(0, Ticks + 1).Select(k => Start + (k * Interval)));
            rig.Collector.GetStatus(rig.Backend.AllDevices[slot].Uuid).Health.Should().Be(GpuHealth.Healthy);
        }

        // The throwing device backs off: tried at 0 s, then 1 s, 3 s, 7 s (waits of 1, 2, 4 intervals).
        rig.Seen.Where(o => o.Slot == 1).Select(o => (o.Result, o.StartedAt))
            .Should().Equal(retries.Select(s => (PollResult.Failed, Start.AddSeconds(s))));
        var thrower = rig.Collector.GetStatus(rig.Backend.AllDevices[1].Uuid);
        thrower.ConsecutiveFailures.Should().Be(4);
        thrower.Health.Should().Be(GpuHealth.Unhealthy);

        // The hanging device timed out at each try, on the same back-off, and was never read twice at once.
        rig.Seen.Where(o => o.Slot == 2).Select(o => (o.Result, o.StartedAt))
            .Should().Equal(retries.Select(s => (PollResult.TimedOut, Start.AddSeconds(s))));
        rig.Collector.GetHistory(rig.Backend.AllDevices[2].Uuid).Should().BeEmpty();
        rig.Collector.GetStatus(rig.Backend.AllDevices[2].Uuid).Should().Match<GpuDeviceStatus>(s => s.ConsecutiveFailures == 4 && s.Health == GpuHealth.Unhealthy);
    }

    [Fact]
    public async Task Poller_LostDevice_MarkedLostAndNotReadAgain_UntilRejoin()
    {
        // Driven tick by tick with PollOnceAsync (no event pump), so only the failed read reports the loss.
        await using var rig = new Rig("lost:1@1500ms+1s", devices: 2);
        var lostUuid = rig.Backend.AllDevices[1].Uuid;
        await rig.Poller.PollOnceAsync(Guard());
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        await rig.Poller.PollOnceAsync(Guard());
        rig.Collector.GetHistory(lostUuid).Should().HaveCount(2);

        rig.Time.Advance(TimeSpan.FromSeconds(1)); // 2 s: device 1 is lost
        await rig.Poller.PollOnceAsync(Guard());
        rig.DrainSeen();
        rig.Seen.Where(o => o.Slot == 1).Select(o => o.Result).Should().Equal(PollResult.Sampled, PollResult.Sampled, PollResult.Lost);
        var status = rig.Collector.GetStatus(lostUuid);
        status.Health.Should().Be(GpuHealth.Lost);
        status.IsFresh.Should().BeFalse();

        rig.Time.Advance(TimeSpan.FromSeconds(1)); // 3 s: the fault ended, but a lost device is not read until it rejoins
        await rig.Poller.PollOnceAsync(Guard());
        rig.DrainSeen();
        rig.Seen.Count(o => o.Slot == 1).Should().Be(3);
        rig.Seen.Count(o => o.Slot == 0).Should().Be(4);

        rig.Collector.AddOrRejoin(rig.Backend.AllDevices[1]); // the manager rediscovered it
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        await rig.Poller.PollOnceAsync(Guard());
        rig.Collector.GetHistory(lostUuid).Select(s => s.Timestamp).Should().Equal(Start.AddSeconds(4));
        rig.Collector.GetStatus(lostUuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task Poller_EventPump_XidMakesDeviceUnhealthy()
    {
        await using var rig = new Rig("xid:0@2s#79", devices: 2);
        var changes = rig.Collector.SubscribeHealthChanges();
        await rig.Poller.StartAsync(CancellationToken.None);
        await rig.WaitForSamplesAsync(Start, 0, 1);
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        await rig.WaitForSamplesAsync(Start.AddSeconds(1), 0, 1);
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        GpuHealthChange change;
        do
        {
            change = await changes.ReadAsync(Guard());
        }
        while (change.Current != GpuHealth.Unhealthy);

        change.Device.Index.Should().Be(0);
        change.Reason.Should().Contain("critical Xid 79");
    }

    [Fact]
    public async Task Poller_StopWithReadHangingForever_StopsPromptly_NoErrorLogged()
    {
        var logs = new FakeLoggerFactory();
        await using var rig = new Rig("hang:1@0s", devices: 2, logs: logs);
        await rig.Poller.StartAsync(CancellationToken.None);
        await rig.Poller.StartAsync(CancellationToken.None); // idempotent
        rig.Poller.IsRunning.Should().BeTrue();
        await rig.WaitForSamplesAsync(Start, 0);

        // The clock never moves: the hanging read would never time out; stopping must still end it.
        await rig.Poller.StopAsync(Guard());
        await rig.Poller.StopAsync(Guard()); // idempotent
        rig.Poller.IsRunning.Should().BeFalse();
        (await rig.WaitForAsync(o => o.Slot == 1)).Result.Should().Be(PollResult.Canceled);

        logs.Collector.GetSnapshot().Should().NotContain(r => r.Level >= LogLevel.Warning);
        rig.Collector.GetStatus(rig.Backend.AllDevices[1].Uuid).ConsecutiveFailures.Should().Be(0, "stopping is not a failure");
        await FluentActions.Awaiting(() => rig.Poller.StartAsync(CancellationToken.None)).Should().ThrowAsync<InvalidOperationException>();
    }

    [Fact]
    public async Task Poller_StopBeforeStart_IsANoOp()
    {
        await using var rig = new Rig(string.Empty, devices: 1);
        await rig.Poller.StopAsync(Guard());
        rig.Poller.IsRunning.Should().BeFalse();
    }

    [Fact]
    public async Task Poller_Failures_LoggedAsWarningsWithDevice()
    {
        var logs = new FakeLoggerFactory();
        await using var rig = new Rig("throw:0@0s", devices: 1, logs: logs);
        await rig.Poller.PollOnceAsync(Guard());
        var warning = logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == LogEventIds.SampleFailed).Which;
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Message.Should().Contain(rig.Backend.AllDevices[0].Uuid).And.Contain("SIMULATED_ERROR_UNKNOWN");
    }

    [Fact]
    public async Task PollOnce_ReadsEveryDevice()
    {
        await using var rig = new Rig(string.Empty, devices: 8);
        await rig.Poller.PollOnceAsync(Guard());
        rig.Collector.GetStatuses().Should().OnlyContain(s => s.Health == GpuHealth.Healthy && s.IsFresh);
    }

    [Fact]
    public async Task Poller_BackendThrowsUnexpectedly_LoggedWithExceptionAndCountedAsFailure()
    {
        var logs = new FakeLoggerFactory();
        var time = new FakeTimeProvider(Start);
        var backend = new BrokenBackend();
        await using var collector = new TelemetryCollector([Device(0)], timeProvider: time, loggerFactory: logs);
        await using var poller = new TelemetryPoller(backend, collector);
        await poller.PollOnceAsync(Guard());
        collector.GetStatus(Device(0).Uuid).ConsecutiveFailures.Should().Be(1);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == LogEventIds.SampleFailedUnexpectedly && r.Exception is NotSupportedException);
    }

    [Fact]
    public async Task Poller_InvalidReading_CountedAsFailure()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new BrokenBackend { Reading = new GpuSample { Timestamp = Start, TemperatureC = double.NaN } };
        await using var collector = new TelemetryCollector([Device(0)], timeProvider: time);
        await using var poller = new TelemetryPoller(backend, collector);
        await poller.PollOnceAsync(Guard());
        collector.GetStatus(Device(0).Uuid).ConsecutiveFailures.Should().Be(1);
        collector.GetHistory(Device(0).Uuid).Should().BeEmpty();
    }

    [Fact]
    public async Task EventPump_StreamFails_LoggedAndRetriedAfterBackoff()
    {
        var logs = new FakeLoggerFactory();
        var time = new TimerSignallingTimeProvider(Start);
        var backend = new BrokenBackend { FailEventsOnce = true };
        await using var collector = new TelemetryCollector([Device(0)], timeProvider: time, loggerFactory: logs);
        await using var poller = new TelemetryPoller(backend, collector);
        var pump = poller.PumpEventsAsync(Guard());

        // The failed stream is logged, then the pump waits one poll interval on the clock before watching again.
        await time.TimersCreated.WaitAsync(Guard());
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == LogEventIds.EventStreamFailed && r.Level == LogLevel.Error && r.Exception is GpuBackendException);
        pump.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromSeconds(1));
        await pump.WaitAsync(Guard());
        collector.GetStatus(Device(0).Uuid).Health.Should().Be(GpuHealth.Lost, "the second watch delivered the lost event");
    }

    /// <summary>A fake clock that signals each timer created after the first (the collector's own sweep timer).</summary>
    private sealed class TimerSignallingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
    {
        private int _created;

        public SemaphoreSlim TimersCreated { get; } = new(0);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = base.CreateTimer(callback, state, dueTime, period);
            if (Interlocked.Increment(ref _created) > 1)
            {
                TimersCreated.Release();
            }

            return timer;
        }
    }

    /// <summary>A backend that misbehaves in the ways the simulated one cannot.</summary>
    private sealed class BrokenBackend : IGpuBackend
    {
        public GpuSample? Reading { get; init; }

        public bool FailEventsOnce { get; init; }

        private int _watches;

        public GpuBackendKind Kind => GpuBackendKind.Simulated;

        public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken) =>
            new([Device(0)]);

        public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken) =>
            Reading is { } r ? new(r) : throw new NotSupportedException("broken");

        public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            if (Interlocked.Increment(ref _watches) == 1 && FailEventsOnce)
            {
                throw new GpuBackendException("event set broke");
            }

            yield return new GpuDeviceEvent(Device(0).Uuid, GpuDeviceEventKind.Lost, 0, Start);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
