using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

/// <summary><see cref="DeviceSelector.AcquireAsync(GpuRequest, TimeSpan, CancellationToken)"/>: a deadline on the selector's clock.</summary>
public class AcquireTimeoutTests
{
    private static readonly GpuRequest TenGiB = new() { MemoryBytes = 10 * GiB };

    /// <summary>One 80 GiB device with one concurrency slot, on a clock that counts the timers alive.</summary>
    private static (DeviceSelector Selector, FakeTimeProvider Time, TimerCountingTimeProvider Timers) OneSlot(int devices = 1, DeviceSelectorOptions? options = null)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var timers = new TimerCountingTimeProvider(time);
        var selector = Selectors.Create(Uniform(devices), options ?? new DeviceSelectorOptions { Seed = 1, MaxLeasesPerDevice = 1 }, timers);
        return (selector, time, timers);
    }

    private static void ShouldBeQuiet(DeviceSelector selector, TimerCountingTimeProvider timers, int waiting = 0)
    {
        selector.FindInvariantViolation().Should().BeNull();
        selector.GetSnapshot().Waiters.Should().Be(waiting);
        timers.Live.Should().Be(1, "only the queue's recheck timer is left: no deadline timer leaks");
    }

    [Fact]
    public async Task AcquireAsync_Timeout_NothingFreesInTime_ThrowsWithExplanationQueuePositionAndTimeout()
    {
        var (selector, time, timers) = OneSlot();
        selector.TryAcquire(TenGiB, out var held).Should().BeTrue();
        var first = selector.AcquireAsync(TenGiB, CancellationToken.None).AsTask();
        var second = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(2), CancellationToken.None).AsTask();

        time.Advance(TimeSpan.FromMilliseconds(1999));
        second.IsCompleted.Should().BeFalse("the deadline is on the selector's clock, 1 ms away");
        time.Advance(TimeSpan.FromMilliseconds(1));
        var e = (await second.Invoking(t => t).Should().ThrowAsync<GpuLeaseTimeoutException>()).Which;

        e.Timeout.Should().Be(TimeSpan.FromSeconds(2));
        e.QueuePosition.Should().Be(2, "one request waited ahead of it");
        e.Explanation.Should().NotBeNull();
        e.Explanation!.Fits.Should().BeFalse();
        e.Explanation.Nearest!.Device.Index.Should().Be(0);
        e.Explanation.Nearest.ActiveLeases.Should().Be(1);
        e.Message.Should().StartWith("No lease within 2 s for the request (1 device × 10 GiB): 2nd of 2 in the queue; nearest: ");
        e.Should().BeAssignableTo<TimeoutException>();
        first.IsCompleted.Should().BeFalse("the other waiter is not disturbed");
        ShouldBeQuiet(selector, timers, waiting: 1);

        await held.DisposeAsync();
        await (await first.WaitAsync(Selectors.Guard)).DisposeAsync();
        ShouldBeQuiet(selector, timers);
        selector.GetSnapshot().Granted.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_TimedOutCancelledAndGranted_OnlyTheFirstTwoAreCountedAsAbandoned()
    {
        var (selector, time, _) = OneSlot();
        using var abandoned = new MetricCollector<long>(selector.Metrics.Abandoned);
        selector.TryAcquire(TenGiB, out var held).Should().BeTrue();
        using var cts = new CancellationTokenSource();
        var timedOut = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(1), CancellationToken.None).AsTask();
        var cancelled = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(9), cts.Token).AsTask();
        var granted = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(9), CancellationToken.None).AsTask();

        time.Advance(TimeSpan.FromSeconds(1));
        await timedOut.Invoking(t => t).Should().ThrowAsync<GpuLeaseTimeoutException>();
        await cts.CancelAsync();
        await cancelled.Invoking(t => t).Should().ThrowAsync<OperationCanceledException>();
        await held.DisposeAsync();
        await (await granted.WaitAsync(Selectors.Guard)).DisposeAsync();

        abandoned.GetMeasurementSnapshot().Select(m => m.Tags["error.type"]).Should().Equal("timeout", "cancelled");
    }

    [Fact]
    public async Task AcquireAsync_Timeout_GrantedBeforeTheDeadline_ReturnsTheLeaseAndDropsTheTimer()
    {
        var (selector, time, timers) = OneSlot();
        selector.TryAcquire(TenGiB, out var held).Should().BeTrue();
        var waiting = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(5), CancellationToken.None).AsTask();
        timers.Live.Should().Be(2, "the deadline runs while it waits");
        time.Advance(TimeSpan.FromSeconds(1));
        await held.DisposeAsync();
        var lease = await waiting.WaitAsync(Selectors.Guard);
        timers.Live.Should().Be(1);

        time.Advance(TimeSpan.FromSeconds(10));
        lease.IsHeld.Should().BeTrue("the deadline no longer applies once granted");
        await lease.DisposeAsync();
        ShouldBeQuiet(selector, timers);
    }

    [Fact]
    public async Task AcquireAsync_Timeout_FitsAtOnce_CompletesSynchronouslyWithoutATimer()
    {
        var (selector, _, timers) = OneSlot();
        var pending = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(1), CancellationToken.None);
        pending.IsCompletedSuccessfully.Should().BeTrue();
        timers.Live.Should().Be(1);
        await (await pending).DisposeAsync();
        ShouldBeQuiet(selector, timers);
    }

    [Fact]
    public async Task AcquireAsync_TokenFiresBeforeTheDeadline_ThrowsOperationCanceledAndLeavesTheQueue()
    {
        var (selector, time, timers) = OneSlot();
        selector.TryAcquire(TenGiB, out var held).Should().BeTrue();
        using var cts = new CancellationTokenSource();
        var waiting = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(5), cts.Token).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        await cts.CancelAsync();

        var e = await waiting.Invoking(t => t).Should().ThrowAsync<OperationCanceledException>();
        e.Which.Should().NotBeOfType<GpuLeaseTimeoutException>();
        e.Which.CancellationToken.Should().Be(cts.Token);
        ShouldBeQuiet(selector, timers);
        time.Advance(TimeSpan.FromSeconds(10)); // the deadline would have passed: nothing happens
        ShouldBeQuiet(selector, timers);
        await held.DisposeAsync();
        selector.GetSnapshot().Granted.Should().Be(1);
    }

    [Fact]
    public async Task AcquireAsync_AlreadyCancelledToken_ThrowsOperationCanceledEvenWithATimeout()
    {
        var (selector, _, timers) = OneSlot();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await selector.Invoking(s => s.AcquireAsync(TenGiB, TimeSpan.FromSeconds(1), cts.Token).AsTask()).Should().ThrowAsync<OperationCanceledException>();
        ShouldBeQuiet(selector, timers);
        selector.GetSnapshot().Granted.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_ZeroTimeout_DoesNotFit_ThrowsAtOnceWithThePositionItWouldHaveHad()
    {
        var (selector, _, timers) = OneSlot();
        selector.TryAcquire(TenGiB, out var held).Should().BeTrue();
        var ahead = selector.AcquireAsync(TenGiB, CancellationToken.None).AsTask();
        var pending = selector.AcquireAsync(TenGiB, TimeSpan.Zero, CancellationToken.None);
        pending.IsCompleted.Should().BeTrue("a zero timeout does not wait");
        var e = (await pending.AsTask().Invoking(t => t).Should().ThrowAsync<GpuLeaseTimeoutException>()).Which;
        e.QueuePosition.Should().Be(2);
        e.Timeout.Should().Be(TimeSpan.Zero);
        ShouldBeQuiet(selector, timers, waiting: 1);
        await held.DisposeAsync();
        await (await ahead.WaitAsync(Selectors.Guard)).DisposeAsync();
        ShouldBeQuiet(selector, timers);
    }

    [Fact]
    public async Task AcquireAsync_HeadTimesOut_TheNextWaiterThatFitsIsGranted()
    {
        // 60 GiB held on the only device: the head (30 GiB) cannot fit and blocks a 10 GiB request behind it (FIFO).
        // When the head's deadline passes, the 10 GiB request goes in without any release.
        var (selector, time, timers) = OneSlot(options: new DeviceSelectorOptions { Seed = 1, WaitRecheckInterval = Timeout.InfiniteTimeSpan });
        selector.TryAcquire(new GpuRequest { MemoryBytes = 60 * GiB }, out var held).Should().BeTrue();
        var head = selector.AcquireAsync(new GpuRequest { MemoryBytes = 30 * GiB }, TimeSpan.FromSeconds(1), CancellationToken.None).AsTask();
        var behind = selector.AcquireAsync(TenGiB, CancellationToken.None).AsTask();
        behind.IsCompleted.Should().BeFalse();

        time.Advance(TimeSpan.FromSeconds(1));
        var e = (await head.Invoking(t => t).Should().ThrowAsync<GpuLeaseTimeoutException>()).Which;
        e.QueuePosition.Should().Be(1);
        e.Explanation!.Nearest!.Reasons.Should().ContainSingle().Which.Should().Contain("needs 30 GiB");
        var lease = await behind.WaitAsync(Selectors.Guard);
        lease.Device.Index.Should().Be(0);
        timers.Live.Should().Be(0, "nothing waits and the recheck timer is off");
        selector.FindInvariantViolation().Should().BeNull();
        await lease.DisposeAsync();
        await held.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_TimeoutWhileItFitsBehindEarlierWaiters_TheMessageSaysSo()
    {
        // The head needs 70 GiB while 30 GiB is held; a 1 GiB request behind it would fit, but waits its turn.
        var (selector, time, timers) = OneSlot(options: new DeviceSelectorOptions { Seed = 1 });
        selector.TryAcquire(new GpuRequest { MemoryBytes = 30 * GiB }, out var held).Should().BeTrue();
        var head = selector.AcquireAsync(new GpuRequest { MemoryBytes = 70 * GiB }, CancellationToken.None).AsTask();
        var small = selector.AcquireAsync(new GpuRequest { MemoryBytes = GiB }, TimeSpan.FromMilliseconds(500), CancellationToken.None).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(500));
        var e = (await small.Invoking(t => t).Should().ThrowAsync<GpuLeaseTimeoutException>()).Which;
        e.QueuePosition.Should().Be(2);
        e.Explanation!.Fits.Should().BeTrue();
        e.Message.Should().Be("No lease within 0.5 s for the request (1 device × 1 GiB): 2nd of 2 in the queue; it fits now, but 1 earlier request waits ahead of it (FIFO: a later request never overtakes).");
        ShouldBeQuiet(selector, timers, waiting: 1);
        await held.DisposeAsync();
        await (await head.WaitAsync(Selectors.Guard)).DisposeAsync();
        ShouldBeQuiet(selector, timers);
    }

    [Fact]
    public async Task AcquireAsync_RequestThatCanNeverFit_ThrowsNoEligibleNotTimeout()
    {
        var (selector, _, timers) = OneSlot();
        await selector.Invoking(s => s.AcquireAsync(new GpuRequest { MemoryBytes = 100 * GiB }, TimeSpan.FromSeconds(1), CancellationToken.None).AsTask())
            .Should().ThrowAsync<NoEligibleGpuException>();
        ShouldBeQuiet(selector, timers);
    }

    [Theory]
    [InlineData(-2)]
    [InlineData(-1000)]
    public async Task AcquireAsync_NegativeTimeout_ThrowsNamingTimeoutAndChangesNothing(int milliseconds)
    {
        var (selector, _, timers) = OneSlot();
        var e = await selector.Invoking(s => s.AcquireAsync(TenGiB, TimeSpan.FromMilliseconds(milliseconds), CancellationToken.None).AsTask())
            .Should().ThrowAsync<ArgumentOutOfRangeException>();
        e.Which.ParamName.Should().Be("timeout");
        ShouldBeQuiet(selector, timers);
        selector.GetSnapshot().Granted.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_TimeoutBeyondTheLongestTimer_ThrowsNamingTimeout()
    {
        var (selector, _, _) = OneSlot();
        var e = await selector.Invoking(s => s.AcquireAsync(TenGiB, TimeSpan.FromDays(50), CancellationToken.None).AsTask())
            .Should().ThrowAsync<ArgumentOutOfRangeException>();
        e.Which.ParamName.Should().Be("timeout");
        (await selector.AcquireAsync(TenGiB, DeviceSelector.MaxAcquireTimeout, CancellationToken.None)).IsHeld.Should().BeTrue();
    }

    [Fact]
    public async Task AcquireAsync_InfiniteTimeout_WaitsLikeThePlainOverloadWithoutATimer()
    {
        var (selector, time, timers) = OneSlot();
        selector.TryAcquire(TenGiB, out var held).Should().BeTrue();
        var waiting = selector.AcquireAsync(TenGiB, Timeout.InfiniteTimeSpan, CancellationToken.None).AsTask();
        timers.Live.Should().Be(1);
        time.Advance(TimeSpan.FromDays(60));
        waiting.IsCompleted.Should().BeFalse();
        await held.DisposeAsync();
        await (await waiting.WaitAsync(Selectors.Guard)).DisposeAsync();
        ShouldBeQuiet(selector, timers);
    }

    [Fact]
    public async Task AcquireAsync_ShutdownWhileWaitingWithATimeout_ThrowsObjectDisposedAndDropsTheTimer()
    {
        var (selector, time, timers) = OneSlot();
        selector.TryAcquire(TenGiB, out var held).Should().BeTrue();
        var waiting = selector.AcquireAsync(TenGiB, TimeSpan.FromSeconds(5), CancellationToken.None).AsTask();
        await selector.DisposeAsync();
        await waiting.Invoking(t => t).Should().ThrowAsync<ObjectDisposedException>();
        time.Advance(TimeSpan.FromSeconds(10));
        timers.Live.Should().Be(0, "the deadline and the recheck timer are both gone");
        await held.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_RandomizedTimeoutsCancellationsAndReleases_EveryCallEndsAndNothingLeaks()
    {
        // 400 requests on 4 devices with 2 slots each, from 8 threads, each with a random deadline (0-400 ms), some
        // with a token cancelled at a random point, holders releasing as virtual time moves on in 10 ms steps.
        const int calls = 400;
        var (selector, time, timers) = OneSlot(4, new DeviceSelectorOptions { Seed = 3, MaxLeasesPerDevice = 2 });
        var random = new Random(5);
        var plan = Enumerable.Range(0, calls).Select(_ => (Timeout: TimeSpan.FromMilliseconds(random.Next(0, 40) * 10), Cancel: random.Next(4) == 0, HoldSteps: random.Next(1, 6))).ToArray();
        var held = new System.Collections.Concurrent.ConcurrentQueue<(GpuLease Lease, int Until)>();
        var cancels = new System.Collections.Concurrent.ConcurrentQueue<CancellationTokenSource>();
        int granted = 0, timedOut = 0, cancelled = 0, step = 0;
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = w; i < calls; i += 8)
            {
                var (timeout, cancel, holdSteps) = plan[i];
                using var cts = new CancellationTokenSource();
                if (cancel)
                {
                    cancels.Enqueue(cts);
                }

                try
                {
                    var lease = await selector.AcquireAsync(TenGiB, timeout, cts.Token);
                    Interlocked.Increment(ref granted);
                    held.Enqueue((lease, Volatile.Read(ref step) + holdSteps));
                }
                catch (GpuLeaseTimeoutException e)
                {
                    e.Timeout.Should().Be(timeout);
                    e.QueuePosition.Should().BePositive();
                    Interlocked.Increment(ref timedOut);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref cancelled);
                }
            }
        })).ToArray();

        var all = Task.WhenAll(workers);
        var deadline = DateTime.UtcNow + Selectors.Guard;
        while (!all.IsCompleted && DateTime.UtcNow < deadline)
        {
            time.Advance(TimeSpan.FromMilliseconds(10));
            var now = Interlocked.Increment(ref step);
            for (var n = held.Count; n > 0 && held.TryDequeue(out var h); n--)
            {
                if (h.Until <= now)
                {
                    await h.Lease.DisposeAsync();
                }
                else
                {
                    held.Enqueue(h);
                }
            }

            if (random.Next(3) == 0 && cancels.TryDequeue(out var c))
            {
                try
                {
                    await c.CancelAsync();
                }
                catch (ObjectDisposedException)
                {
                    // Its call has ended already.
                }
            }

            await Task.Yield();
        }

        await all.WaitAsync(Selectors.Guard);
        while (held.TryDequeue(out var h))
        {
            await h.Lease.DisposeAsync();
        }

        (granted + timedOut + cancelled).Should().Be(calls);
        granted.Should().BePositive();
        timedOut.Should().BePositive();
        var snapshot = selector.GetSnapshot();
        snapshot.Granted.Should().Be(granted);
        snapshot.Granted.Should().Be(snapshot.Released + snapshot.Revoked);
        ShouldBeQuiet(selector, timers);
        Selectors.Reserved(selector).Should().OnlyContain(r => r == 0);
    }
}

/// <summary>A clock that hands out a <see cref="FakeTimeProvider"/>'s timers and counts those not yet disposed.</summary>
internal sealed class TimerCountingTimeProvider(FakeTimeProvider inner) : TimeProvider
{
    private int _live;

    /// <summary>Timers created and not yet disposed.</summary>
    public int Live => Volatile.Read(ref _live);

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    public override long GetTimestamp() => inner.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Interlocked.Increment(ref _live);
        return new Counted(this, inner.CreateTimer(callback, state, dueTime, period));
    }

    private sealed class Counted(TimerCountingTimeProvider owner, ITimer timer) : ITimer
    {
        private int _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period) => timer.Change(dueTime, period);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                Interlocked.Decrement(ref owner._live);
            }

            timer.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return default;
        }
    }
}
