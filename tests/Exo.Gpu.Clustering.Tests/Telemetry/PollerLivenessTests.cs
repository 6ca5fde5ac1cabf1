using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

/// <summary>The poller against backends that ignore their cancellation token: hung readings count, stopping stays bounded.</summary>
[Collection(TimingSensitive.Name)]
public class PollerLivenessTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(250);

    private static TelemetryOptions Options() => new()
    {
        PollInterval = Interval,
        SampleTimeout = Timeout,
        MaxBackoff = TimeSpan.FromSeconds(8),
        StalenessLimit = TimeSpan.FromSeconds(5),
    };

    [Fact]
    public async Task Poller_SampleHangsIgnoringToken_FailureCountedEveryTick_UnhealthyAtThreshold()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new HangingBackend(hangSlot: 1);
        await using var collector = new TelemetryCollector(TelemetryTestKit.Devices(2), Options(), time);
        await using var poller = new TelemetryPoller(backend, collector);
        var hung = collector.Devices[1].Uuid;
        await poller.StartAsync(CancellationToken.None);
        await WaitUntil(() => backend.HungCalls == 1 && collector.GetStatus(collector.Devices[0].Uuid).IsFresh);

        time.Advance(Timeout); // the read times out: its token fires, it ignores it and never returns
        await WaitUntil(() => collector.GetStatus(hung).ConsecutiveFailures == 1);
        time.Advance(Interval - Timeout);

        // Every later tick finds the abandoned call still outstanding and counts one more failure.
        for (var failures = 2; failures <= 4; failures++)
        {
            await WaitUntil(() => collector.GetStatus(hung).ConsecutiveFailures == failures);
            time.Advance(Interval);
        }

        var status = collector.GetStatus(hung);
        status.Health.Should().Be(GpuHealth.Unhealthy);
        backend.HungCalls.Should().Be(1, "a device whose call has not returned is never called again");
        collector.GetStatus(collector.Devices[0].Uuid).Health.Should().Be(GpuHealth.Healthy);
        await poller.StopAsync(Guard());
    }

    [Fact]
    public async Task StopAsync_EventStreamIgnoresToken_ReturnsWithoutWaitingForIt_Logged()
    {
        var logs = new FakeLoggerFactory();
        var time = new FakeTimeProvider(Start);
        var backend = new HangingBackend(hangSlot: -1);
        await using var collector = new TelemetryCollector(TelemetryTestKit.Devices(1), Options(), time, logs);
        var poller = new TelemetryPoller(backend, collector);
        poller.StopBound.Should().Be(Timeout, "the stop bound is the sample timeout");
        await poller.StartAsync(CancellationToken.None);
        await backend.Watching.Task.WaitAsync(Guard());

        // The clock never moves: the stop must not wait on the stream at all.
        await poller.StopAsync(Guard()).WaitAsync(Guard());

        poller.IsRunning.Should().BeFalse();
        backend.StreamReturned.Should().BeFalse("the stream is still hung, abandoned");
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == LogEventIds.EventStreamAbandoned && r.Level == LogLevel.Warning);
        logs.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == LogEventIds.PollerStopped);
        await poller.DisposeAsync();
    }

    /// <summary>Waits (bounded by the guard) for the poller's thread-pool work to reach a state; never a timing.</summary>
    private static async Task WaitUntil(Func<bool> condition)
    {
        var guard = Guard();
        while (!condition())
        {
            guard.ThrowIfCancellationRequested();
            await Task.Yield();
        }
    }

    /// <summary>A backend whose sampling of one slot, and whose event stream, hang ignoring their tokens (a wedged driver).</summary>
    private sealed class HangingBackend(int hangSlot) : IGpuBackend
    {
        private int _hungCalls;
        private volatile bool _streamReturned;

        public int HungCalls => Volatile.Read(ref _hungCalls);

        public bool StreamReturned => _streamReturned;

        public TaskCompletionSource Watching { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public GpuBackendKind Kind => GpuBackendKind.Simulated;

        public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken) => new(TelemetryTestKit.Devices(2));

        public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken)
        {
            if (device.Index == hangSlot)
            {
                Interlocked.Increment(ref _hungCalls);
                return new(new TaskCompletionSource<GpuSample>().Task);
            }

            return new(Sample(Start));
        }

        public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            Watching.TrySetResult();
            await new TaskCompletionSource().Task; // ignores the token
            _streamReturned = true;
            yield break;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
