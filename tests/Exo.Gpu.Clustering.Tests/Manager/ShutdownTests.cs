using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

public class ShutdownTests
{
    private static readonly GpuRequest TenGiB = new() { MemoryBytes = 10 * GiB };

    [Fact]
    public async Task ShutdownAndDisposeAsync_CalledConcurrentlyFromManyThreads_AllCompleteAndTearDownOnce()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var backend = new FakeGpuBackend(time, 4);
        var setup = Options(time, logs, backend);
        setup.Options.EnablePoller = true;
        setup.Options.RediscoveryInterval = TimeSpan.FromSeconds(5);
        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        using var ready = new Barrier(8);

        var callers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            ready.SignalAndWait();
            if (i % 2 == 0)
            {
                await manager.ShutdownAsync();
            }
            else
            {
                await manager.DisposeAsync();
            }
        })).ToArray();
        await Task.WhenAll(callers).WaitAsync(Guard);

        manager.IsShuttingDown.Should().BeTrue();
        Logged(logs, ShuttingDownEvent).Should().Be(1);
        Logged(logs, StoppedEvent).Should().Be(1);
        backend.DisposeCalls.Should().Be(1);

        // Later calls complete at once, and still tear nothing down again.
        await manager.ShutdownAsync().WaitAsync(Guard);
        await manager.DisposeAsync().AsTask().WaitAsync(Guard);
        Logged(logs, StoppedEvent).Should().Be(1);
        backend.DisposeCalls.Should().Be(1);
    }

    [Fact]
    public async Task EveryPublicOperation_FromTheFirstShutdownCallOn_ThrowsObjectDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time);
        var uuid = manager.Devices[0].Uuid;
        manager.TryAcquire(TenGiB, out var held).Should().BeTrue();

        // The held lease keeps the shutdown pending (the fake clock never reaches the drain timeout): the guard is
        // on from the first call, not from the end.
        var shutdown = manager.ShutdownAsync();
        await AssertEveryOperationThrowsAsync(manager, uuid);
        shutdown.IsCompleted.Should().BeFalse();

        await held.DisposeAsync();
        await shutdown.WaitAsync(Guard);
        await AssertEveryOperationThrowsAsync(manager, uuid);
    }

    [Fact]
    public async Task ShutdownAsync_WaitingAcquirers_FailWithObjectDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time, devices: 1);
        manager.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB }, out var held).Should().BeTrue();
        using var token = new CancellationTokenSource();
        var waiting = manager.AcquireAsync(new GpuRequest { MemoryBytes = 40 * GiB }, token.Token).AsTask();
        var waitingWithoutToken = manager.AcquireAsync(new GpuRequest { MemoryBytes = 40 * GiB }).AsTask();
        manager.GetLeaseSnapshot().Waiters.Should().Be(2);

        var shutdown = manager.ShutdownAsync();

        await FluentActions.Awaiting(() => waiting.WaitAsync(Guard)).Should().ThrowExactlyAsync<ObjectDisposedException>();
        await FluentActions.Awaiting(() => waitingWithoutToken.WaitAsync(Guard)).Should().ThrowExactlyAsync<ObjectDisposedException>();
        await held.DisposeAsync();
        await shutdown.WaitAsync(Guard);
    }

    [Fact]
    public async Task ShutdownAsync_HeldLease_RevokedAndShutdownWaitsUntilItIsReleased()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var setup = Options(time, null, backend);
        setup.Options.EnablePoller = true;
        setup.Options.RediscoveryInterval = TimeSpan.FromSeconds(5);
        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        var selector = manager.Selector;
        manager.TryAcquire(TenGiB, out var lease).Should().BeTrue();
        var revoked = WhenCanceled(lease.Token);

        var shutdown = manager.ShutdownAsync();

        lease.Token.IsCancellationRequested.Should().BeTrue("the lease is revoked when ShutdownAsync returns");
        await revoked.WaitAsync(Guard);
        shutdown.IsCompleted.Should().BeFalse("the holder has not released");
        time.Advance(DrainTimeout - TimeSpan.FromTicks(1));
        shutdown.IsCompleted.Should().BeFalse("the drain timeout has not passed");
        backend.DisposeCalls.Should().Be(0, "nothing is torn down while a holder may still use its device");

        await lease.DisposeAsync();
        await shutdown.WaitAsync(Guard);
        backend.DisposeCalls.Should().Be(1);
        var snapshot = selector.GetSnapshot();
        (snapshot.Granted, snapshot.Released, snapshot.Revoked, snapshot.ActiveLeases).Should().Be((1, 0, 1, 0));
    }

    [Fact]
    public async Task ShutdownAsync_LeaseNeverReleased_CompletesWhenTheClockPassesTheDrainTimeout()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var backend = new FakeGpuBackend(time, 2);
        var manager = await Options(time, logs, backend).StartAsync().WaitAsync(Guard);
        var selector = manager.Selector;
        manager.TryAcquire(TenGiB, out var lease).Should().BeTrue();

        var shutdown = manager.ShutdownAsync();
        time.Advance(DrainTimeout - TimeSpan.FromTicks(1));
        shutdown.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromTicks(1));

        await shutdown.WaitAsync(Guard);
        backend.DisposeCalls.Should().Be(1);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == DrainTimedOutEvent).Which.Message.Should().Contain("1 leases were not released");

        // The late holder can still release: nothing throws and the accounting closes.
        await lease.DisposeAsync();
        var snapshot = selector.GetSnapshot();
        (snapshot.Granted, snapshot.Released + snapshot.Revoked, snapshot.ActiveLeases).Should().Be((1, 1, 0));
    }

    [Fact]
    public async Task ShutdownAsync_ZeroDrainTimeout_DoesNotWaitForHolders()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1);
        var setup = Options(time, null, backend);
        setup.Options.DrainTimeout = TimeSpan.Zero;
        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        manager.TryAcquire(TenGiB, out var lease).Should().BeTrue();

        await manager.ShutdownAsync().WaitAsync(Guard);

        lease.Token.IsCancellationRequested.Should().BeTrue();
        backend.DisposeCalls.Should().Be(1);
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task ShutdownAsync_CallerTokenFires_CallerStopsWaitingButShutdownFinishes()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1);
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        manager.TryAcquire(TenGiB, out var lease).Should().BeTrue();
        using var impatient = new CancellationTokenSource();

        var first = manager.ShutdownAsync(impatient.Token);
        await impatient.CancelAsync();
        await FluentActions.Awaiting(() => first.WaitAsync(Guard)).Should().ThrowAsync<OperationCanceledException>();
        manager.IsShuttingDown.Should().BeTrue();

        await lease.DisposeAsync();
        await manager.ShutdownAsync().WaitAsync(Guard);
        backend.DisposeCalls.Should().Be(1);
    }

    [Fact]
    public async Task ShutdownAsync_Subscribers_TheirChannelsComplete()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time);
        var samples = manager.Telemetry.Subscribe();
        var changes = manager.Telemetry.SubscribeHealthChanges();
        manager.Telemetry.Record(manager.Devices[0].Uuid, Sample(Start, eccUncorrected: 1));   // one reading, one change

        await manager.ShutdownAsync().WaitAsync(Guard);

        (await ReadToEndAsync(samples)).Should().ContainSingle();
        (await ReadToEndAsync(changes)).Should().ContainSingle().Which.Current.Should().Be(GpuHealth.Unhealthy);
        await samples.Completion.WaitAsync(Guard);
        await changes.Completion.WaitAsync(Guard);

        static async Task<List<T>> ReadToEndAsync<T>(System.Threading.Channels.ChannelReader<T> reader)
        {
            var items = new List<T>();
            await foreach (var item in reader.ReadAllAsync().WithCancellation(new CancellationTokenSource(Guard).Token))
            {
                items.Add(item);
            }

            return items;
        }
    }

    [Fact]
    public async Task ShutdownAsync_PollerAndRediscoveryRunning_StopAndBackendIsDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var setup = Options(time, null, backend);
        setup.Options.EnablePoller = true;
        setup.Options.RediscoveryInterval = TimeSpan.FromSeconds(2);
        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        var samples = manager.Telemetry.Subscribe();
        time.Advance(PollInterval);
        await StartTests.WaitForReadingsAsync(samples, manager.Devices, Start + PollInterval);

        await manager.ShutdownAsync().WaitAsync(Guard);

        backend.DisposeCalls.Should().Be(1);
        var (discoveries, sampled) = (backend.DiscoverCalls, backend.SampleCalls);
        for (var i = 0; i < 30; i++)
        {
            time.Advance(PollInterval);
            await Task.Yield();
        }

        (backend.DiscoverCalls, backend.SampleCalls).Should().Be((discoveries, sampled));
    }

    [Fact]
    public async Task ShutdownAsync_RefreshInFlight_RefreshIsCancelledAndShutdownWaitsForIt()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backend.OnSample = (d, ct) =>
        {
            entered.TrySetResult();
            return FakeGpuBackend.HangUntilCanceled(d, ct);
        };
        var refresh = manager.RefreshTelemetryAsync();
        await entered.Task.WaitAsync(Guard);

        var shutdown = manager.ShutdownAsync();

        await FluentActions.Awaiting(() => refresh.WaitAsync(Guard)).Should().ThrowAsync<OperationCanceledException>();
        await shutdown.WaitAsync(Guard);
        backend.DisposeCalls.Should().Be(1);
    }

    [Fact]
    public async Task ShutdownAsync_RediscoveryInFlight_RediscoveryIsCancelledAndShutdownWaitsForIt()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backend.OnDiscover = async ct =>
        {
            entered.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return [];
        };
        var rediscovery = manager.RediscoverAsync();
        await entered.Task.WaitAsync(Guard);

        var shutdown = manager.ShutdownAsync();

        await FluentActions.Awaiting(() => rediscovery.WaitAsync(Guard)).Should().ThrowAsync<OperationCanceledException>();
        await shutdown.WaitAsync(Guard);
        backend.DisposeCalls.Should().Be(1);
    }

    private static async Task AssertEveryOperationThrowsAsync(GpuClusteringManager manager, string uuid)
    {
        var operations = new (string Name, Func<Task> Call)[]
        {
            ("Devices", Sync(() => _ = manager.Devices)),
            ("Telemetry", Sync(() => _ = manager.Telemetry)),
            ("Selector", Sync(() => _ = manager.Selector)),
            ("GetStatus", Sync(() => manager.GetStatus(uuid))),
            ("GetStatuses", Sync(() => manager.GetStatuses())),
            ("GetClusterTelemetry", Sync(() => manager.GetClusterTelemetry())),
            ("SelectBest", Sync(() => manager.SelectBest(GiB))),
            ("TryAcquire", Sync(() => manager.TryAcquire(TenGiB, out _))),
            ("AcquireAsync", async () => await manager.AcquireAsync(TenGiB)),
            ("GetLeaseSnapshot", Sync(() => manager.GetLeaseSnapshot())),
            ("DistributeUniform", Sync(() => manager.DistributeUniform(100))),
            ("DistributeByCapacity", Sync(() => manager.DistributeByCapacity(100))),
            ("RefreshTelemetryAsync", () => manager.RefreshTelemetryAsync()),
            ("RediscoverAsync", () => manager.RediscoverAsync()),
        };
        foreach (var (name, call) in operations)
        {
            await call.Should().ThrowExactlyAsync<ObjectDisposedException>(name);
        }

        static Func<Task> Sync(Action action) => () =>
        {
            action();
            return Task.CompletedTask;
        };
    }
}
