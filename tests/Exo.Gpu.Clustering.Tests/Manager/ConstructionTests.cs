using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary>A manager built synchronously and started separately (as dependency injection does).</summary>
public class ConstructionTests
{
    [Fact]
    public async Task Constructor_ValidOptions_DiscoversNothingUntilStarted()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var manager = Options(time, null, backend).Create();
        await using var _ = Stop(manager, time);

        backend.DiscoverCalls.Should().Be(0);
        manager.IsRunning.Should().BeFalse();
        manager.IsShuttingDown.Should().BeFalse();
        manager.BackendFallbackReason.Should().BeNull();
        ((Func<object>)(() => manager.Devices)).Should().Throw<InvalidOperationException>().WithMessage("*StartAsync*");
        ((Func<object>)(() => manager.BackendKind)).Should().Throw<InvalidOperationException>();
        FluentActions.Invoking(() => manager.TryAcquire(new GpuRequest(), out var none)).Should().Throw<InvalidOperationException>();
        await manager.Invoking(m => m.RefreshTelemetryAsync()).Should().ThrowAsync<InvalidOperationException>();

        await manager.StartAsync(CancellationToken.None).WaitAsync(Guard);

        manager.IsRunning.Should().BeTrue();
        backend.DiscoverCalls.Should().Be(1);
        manager.Devices.Should().Equal(backend.AllDevices);
        manager.TryAcquire(new GpuRequest { MemoryBytes = GiB }, out var lease).Should().BeTrue();
        await lease.DisposeAsync();
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsListingEveryProblemAndTakesNothing()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1);
        var setup = Options(time, null, backend);
        setup.Options.DrainTimeout = TimeSpan.FromSeconds(-1);
        setup.Options.RediscoveryInterval = TimeSpan.Zero;

        var act = () => new GpuClusteringManager(setup.Options, setup.Services);

        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "options"
            && e.Message.Contains("DrainTimeout", StringComparison.Ordinal)
            && e.Message.Contains("RediscoveryInterval", StringComparison.Ordinal));
        backend.IsDisposed.Should().BeFalse("a constructor that throws takes nothing over");
    }

    [Fact]
    public async Task StartAsync_CalledTwice_ReturnsTheFirstCallsTask()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1);
        var manager = Options(time, null, backend).Create();
        await using var _ = Stop(manager, time);

        var first = manager.StartAsync(CancellationToken.None);
        var second = manager.StartAsync(CancellationToken.None);

        second.Should().BeSameAs(first);
        await first.WaitAsync(Guard);
        backend.DiscoverCalls.Should().Be(1);
    }

    [Fact]
    public async Task StartAsync_Fails_ManagerStoppedAndBackendsDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1) { Listed = [] };
        var manager = Options(time, null, backend).Create();

        var thrown = await manager.Invoking(m => m.StartAsync(CancellationToken.None)).Should().ThrowAsync<GpuClusterStartException>();

        thrown.Which.Step.Should().Be(GpuClusterStartStep.Discovery);
        backend.IsDisposed.Should().BeTrue();
        manager.IsShuttingDown.Should().BeTrue();
        ((Func<object>)(() => manager.Devices)).Should().Throw<ObjectDisposedException>();
        await manager.ShutdownAsync().WaitAsync(Guard);
        backend.DisposeCalls.Should().Be(1, "the failed start disposed it once; shutdown has nothing left to stop");
    }

    [Fact]
    public async Task ShutdownAsync_BeforeStart_DisposesTheGivenBackendsAndRefusesTheStart()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1);
        var manager = Options(time, null, backend).Create();

        await manager.ShutdownAsync().WaitAsync(Guard);

        backend.DisposeCalls.Should().Be(1);
        backend.DiscoverCalls.Should().Be(0);
        Action start = () => manager.StartAsync(CancellationToken.None);
        start.Should().Throw<ObjectDisposedException>("the call itself refuses: nothing to wait for");
    }

    [Fact]
    public async Task ShutdownAsync_DuringStart_CancelsItAndDisposesEverything()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { OnSample = FakeGpuBackend.HangUntilCanceled };
        var manager = Options(time, null, backend).Create();
        var start = manager.StartAsync(CancellationToken.None);
        await backend.SampleEntered.Task.WaitAsync(Guard);

        await manager.ShutdownAsync().WaitAsync(Guard);

        await start.Invoking(s => s.WaitAsync(Guard)).Should().ThrowAsync<OperationCanceledException>();
        backend.DisposeCalls.Should().Be(1);
        manager.IsRunning.Should().BeFalse();
    }

    [Fact]
    public async Task StartAsync_KeepUnreadableDevices_FailedFirstReadingJoinsUnknownAndBecomesSelectableOnceRead()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var broken = backend.AllDevices[1];
        var failing = true;
        backend.OnSample = (device, token) => device == broken && Volatile.Read(ref failing)
            ? ValueTask.FromException<GpuSample>(new GpuSamplingException("ECC page retirement pending", "NVML_ERROR_UNKNOWN", 999))
            : new ValueTask<GpuSample>(backend.HealthySample());
        var setup = Options(time, null, backend);
        setup.Options.KeepUnreadableDevices = true;
        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        await using var stop = Stop(manager, time);

        manager.Devices.Should().Equal(backend.AllDevices);
        var status = manager.GetStatus(broken.Uuid);
        status.Health.Should().Be(GpuHealth.Unknown);
        status.Latest.Should().BeNull();
        status.ConsecutiveFailures.Should().Be(1);
        manager.Selector.Explain(new GpuRequest { IncludeUuids = [broken.Uuid] }).Devices[1].Reasons.Should().Contain("no telemetry reading yet");
        manager.TryAcquire(new GpuRequest { IncludeUuids = [broken.Uuid] }, out var refused).Should().BeFalse();

        Volatile.Write(ref failing, false);
        await manager.RefreshTelemetryAsync().WaitAsync(Guard);

        manager.GetStatus(broken.Uuid).Health.Should().Be(GpuHealth.Healthy);
        manager.TryAcquire(new GpuRequest { IncludeUuids = [broken.Uuid] }, out var lease).Should().BeTrue();
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task StartAsync_WithoutKeepUnreadableDevices_FailedFirstReadingLeftOut()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var broken = backend.AllDevices[1];
        backend.OnSample = (device, token) => device == broken
            ? ValueTask.FromException<GpuSample>(new GpuSamplingException("unreadable", "NVML_ERROR_UNKNOWN", 999))
            : new ValueTask<GpuSample>(backend.HealthySample());
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().Equal(backend.AllDevices[0]);
    }

    [Fact]
    public async Task StartAsync_PollerDisabled_BackendEventsStillApplied()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 2, faults: "xid:1@5s#79");
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);

        time.Advance(TimeSpan.FromSeconds(5));

        var change = await events.WaitForAsync<GpuHealthChange>(c => c.Current == GpuHealth.Unhealthy);
        change.Device.Should().Be(backend.AllDevices[1]);
        manager.GetStatus(backend.AllDevices[0].Uuid).Health.Should().Be(GpuHealth.Healthy);
    }
}
