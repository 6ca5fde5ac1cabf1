using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging.Abstractions;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class HealthChangeQueueTests
{
    [Fact]
    public async Task WhenHealthChangesAppliedAsync_DeviceLost_CompletesOnceItsLeasesAreRevoked()
    {
        var source = Uniform(3);
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [1], MemoryBytes = 10 * GiB }, out var onLost).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [2], MemoryBytes = 10 * GiB }, out var other).Should().BeTrue();

        source.ChangeHealth(1, GpuHealth.Lost, "fell off the bus");
        await selector.WhenHealthChangesAppliedAsync(CancellationToken.None).WaitAsync(Selectors.Guard);

        // No waiting on the token: the change has been applied when the task completes.
        onLost.Token.IsCancellationRequested.Should().BeTrue();
        other.Token.IsCancellationRequested.Should().BeFalse();
        selector.GetSnapshot().Revoked.Should().Be(1);
    }

    [Fact]
    public async Task ApplyHealthChangesOnRefresh_DeviceLost_RevokesOnlyWhenAppliedOnTheCallersThread()
    {
        var source = Uniform(2);
        var selector = Selectors.Create(source, new DeviceSelectorOptions { Seed = 1, ApplyHealthChangesOnRefresh = true, WaitRecheckInterval = Timeout.InfiniteTimeSpan });
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [1], MemoryBytes = 10 * GiB }, out var onLost).Should().BeTrue();

        source.ChangeHealth(1, GpuHealth.Lost, "fell off the bus");
        await Task.Yield(); // a thread-pool handler would have had its chance
        onLost.Token.IsCancellationRequested.Should().BeFalse("the change waits for the defined point");
        selector.GetSnapshot().Revoked.Should().Be(0);

        var applied = selector.WhenHealthChangesAppliedAsync(CancellationToken.None);
        applied.IsCompletedSuccessfully.Should().BeTrue("the change was applied on this thread, before the call returned");
        onLost.Token.IsCancellationRequested.Should().BeTrue();
        selector.GetSnapshot().Revoked.Should().Be(1);
        await onLost.DisposeAsync();
    }

    [Fact]
    public async Task WhenHealthChangesAppliedAsync_DeviceRecovers_CompletesOnceTheWaiterIsServed()
    {
        var source = Uniform(1);
        source.ChangeHealth(0, GpuHealth.Unhealthy);
        var selector = Selectors.Create(source, new DeviceSelectorOptions { WaitRecheckInterval = Timeout.InfiniteTimeSpan });
        var waiting = selector.AcquireAsync(new GpuRequest()).AsTask();
        source.ChangeHealth(0, GpuHealth.Healthy);
        await selector.WhenHealthChangesAppliedAsync(CancellationToken.None).WaitAsync(Selectors.Guard);
        waiting.IsCompletedSuccessfully.Should().BeTrue();
    }

    [Fact]
    public void WhenAppliedAsync_NothingPosted_CompletesAtOnce()
    {
        var queue = new HealthChangeQueue(_ => { }, NullLogger.Instance);
        queue.WhenAppliedAsync(CancellationToken.None).IsCompletedSuccessfully.Should().BeTrue();
        queue.WhenAppliedAsync(new CancellationToken(canceled: true)).IsCompletedSuccessfully.Should().BeTrue("there is nothing to wait for");
    }

    [Fact]
    public async Task WhenAppliedAsync_ChangeBeingHandled_CompletesOnlyAfterItIsHandledFromOneSharedSignal()
    {
        using var release = new SemaphoreSlim(0);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handled = 0;
        var queue = new HealthChangeQueue(
            _ =>
            {
                entered.TrySetResult();
                release.Wait();
                Interlocked.Increment(ref handled);
            },
            NullLogger.Instance);

        queue.Post(Change(0));
        await entered.Task.WaitAsync(Selectors.Guard);
        var first = queue.WhenAppliedAsync(CancellationToken.None);
        var second = queue.WhenAppliedAsync(CancellationToken.None);
        first.IsCompleted.Should().BeFalse();
        second.Should().BeSameAs(first, "waiters share one completion signal; nobody polls");

        queue.Post(Change(1));   // queued behind the one being handled
        release.Release(2);
        await first.WaitAsync(Selectors.Guard);
        Volatile.Read(ref handled).Should().Be(2, "the signal fires when the queue has drained");
        queue.WhenAppliedAsync(CancellationToken.None).IsCompletedSuccessfully.Should().BeTrue();
    }

    [Fact]
    public async Task WhenAppliedAsync_TokenFires_StopsWaitingAndTheChangeIsStillHandled()
    {
        using var release = new SemaphoreSlim(0);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var queue = new HealthChangeQueue(_ => { entered.TrySetResult(); release.Wait(); }, NullLogger.Instance);
        queue.Post(Change(0));
        await entered.Task.WaitAsync(Selectors.Guard);

        using var cancel = new CancellationTokenSource();
        var waiting = queue.WhenAppliedAsync(cancel.Token);
        await cancel.CancelAsync();
        await waiting.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<OperationCanceledException>();

        var later = queue.WhenAppliedAsync(CancellationToken.None);
        later.IsCompleted.Should().BeFalse();
        release.Release();
        await later.WaitAsync(Selectors.Guard);
    }

    [Fact]
    public async Task WhenAppliedAsync_HandlerThrows_LogsAndStillCompletes()
    {
        var handled = 0;
        var queue = new HealthChangeQueue(
            c =>
            {
                Interlocked.Increment(ref handled);
                if (c.Reason == "0")
                {
                    throw new InvalidOperationException("boom");
                }
            },
            NullLogger.Instance);
        queue.Post(Change(0));
        queue.Post(Change(1));
        await queue.WhenAppliedAsync(CancellationToken.None).WaitAsync(Selectors.Guard);
        Volatile.Read(ref handled).Should().Be(2);
    }

    /// <summary>
    /// Posters and waiters race: each task posts a change, then waits; when its wait completes, its own change (and
    /// every change posted before the wait began) has been handled. Bounded, no sleeps.
    /// </summary>
    [Fact]
    public async Task WhenAppliedAsync_ConcurrentPostsAndWaits_NeverCompletesBeforeTheWaitersChange()
    {
        const int tasks = 8, rounds = 200;
        var handled = new int[tasks * rounds];
        var queue = new HealthChangeQueue(c => Volatile.Write(ref handled[int.Parse(c.Reason, System.Globalization.CultureInfo.InvariantCulture)], 1), NullLogger.Instance);
        var early = 0;
        var workers = Enumerable.Range(0, tasks).Select(t => Task.Run(async () =>
        {
            for (var r = 0; r < rounds; r++)
            {
                var id = (t * rounds) + r;
                queue.Post(Change(id));
                await queue.WhenAppliedAsync(CancellationToken.None);
                if (Volatile.Read(ref handled[id]) == 0)
                {
                    Interlocked.Increment(ref early);
                }
            }
        })).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        early.Should().Be(0);
        handled.Should().OnlyContain(h => h == 1);
    }

    private static GpuHealthChange Change(int id) =>
        new(Device(0), GpuHealth.Healthy, GpuHealth.Degraded, id.ToString(System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UnixEpoch);
}
