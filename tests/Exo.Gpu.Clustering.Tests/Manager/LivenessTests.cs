using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary>
/// Start, rediscovery and shutdown are never only as live as the backend (issue 12, item 2): discovery is bounded by
/// <see cref="GpuClusteringOptions.DiscoveryTimeout"/>, and shutdown by <see cref="GpuClusteringOptions.DrainTimeout"/>
/// + <see cref="GpuClusteringOptions.StopTimeout"/>, even when the backend ignores its tokens. All on a fake clock.
/// </summary>
public class LivenessTests
{
    private static readonly TimeSpan DiscoveryTimeout = TimeSpan.FromSeconds(3);

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(2);

    private const int StopAbandonedEvent = 111;
    private const int FellBackToSimulatedEvent = 112;

    private static ManagerSetup Bounded(FakeTimeProvider time, FakeLoggerFactory? logs, params IGpuBackend[] backends)
    {
        var setup = Options(time, logs, backends);
        setup.Options.DiscoveryTimeout = DiscoveryTimeout;
        setup.Options.StopTimeout = StopTimeout;
        return setup;
    }

    [Fact]
    public async Task StartAsync_DiscoveryHangsIgnoringToken_FailsAtDiscoveryAfterTheTimeout()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { OnDiscover = FakeGpuBackend.DiscoverHangingIgnoringToken };

        var start = Bounded(time, null, backend).StartAsync();
        await backend.DiscoverEntered.Task.WaitAsync(Guard);
        time.Advance(DiscoveryTimeout - TimeSpan.FromMilliseconds(1));
        start.IsCompleted.Should().BeFalse("the timeout has not passed yet");
        time.Advance(TimeSpan.FromMilliseconds(1));

        var thrown = (await FluentActions.Awaiting(() => start.WaitAsync(Guard)).Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.InnerException.Should().BeOfType<TimeoutException>().Which.Message.Should().Contain("3 s");
        backend.IsDisposed.Should().BeTrue("a failed start disposes the backends it owns");
    }

    [Fact]
    public async Task StartAsync_OneOfTwoBackendsHangsInDiscovery_StartsWithTheOther()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var hung = new FakeGpuBackend(time, 2, "hung") { OnDiscover = FakeGpuBackend.DiscoverHangingIgnoringToken };
        var good = new FakeGpuBackend(time, 1, "good");

        var start = Bounded(time, logs, hung, good).StartAsync();
        await hung.DiscoverEntered.Task.WaitAsync(Guard);
        time.Advance(DiscoveryTimeout);
        var manager = await start.WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().Equal(good.AllDevices);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == BackendDiscoveryFailedEvent && r.Exception is TimeoutException);
    }

    [Fact]
    public async Task RediscoverAsync_DiscoveryHangsIgnoringToken_ThrowsAfterTheTimeoutAndChangesNothing()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var manager = await Bounded(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backend.OnDiscover = token =>
        {
            entered.TrySetResult();
            return FakeGpuBackend.DiscoverHangingIgnoringToken(token);
        };

        var rediscovery = manager.RediscoverAsync();
        await entered.Task.WaitAsync(Guard);
        rediscovery.IsCompleted.Should().BeFalse();
        time.Advance(DiscoveryTimeout);

        var thrown = (await FluentActions.Awaiting(() => rediscovery.WaitAsync(Guard)).Should().ThrowAsync<GpuBackendUnavailableException>()).Which;
        thrown.InnerException.Should().BeOfType<TimeoutException>();
        manager.GetStatuses().Should().OnlyContain(s => s.Health == GpuHealth.Healthy, "a hung discovery says nothing about the devices");
    }

    [Fact]
    public async Task RediscoverAsync_SingleBackendThrowsItsOwnExceptionType_WrappedAsDocumented()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var manager = await Bounded(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        backend.OnDiscover = _ => throw new InvalidOperationException("driver bug");

        var thrown = (await FluentActions.Awaiting(() => manager.RediscoverAsync().WaitAsync(Guard)).Should().ThrowAsync<GpuBackendUnavailableException>()).Which;

        thrown.InnerException.Should().BeOfType<InvalidOperationException>().Which.Message.Should().Be("driver bug");
        thrown.Message.Should().Contain("driver bug");
    }

    [Fact]
    public async Task ShutdownAsync_RediscoveryInFlightHangsIgnoringToken_ReturnsWithoutWaitingForIt()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var setup = Bounded(time, null, backend);
        setup.Options.DiscoveryTimeout = GpuClusteringOptions.MaxDiscoveryTimeout;
        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backend.OnDiscover = token =>
        {
            entered.TrySetResult();
            return FakeGpuBackend.DiscoverHangingIgnoringToken(token);
        };
        var rediscovery = manager.RediscoverAsync();
        await entered.Task.WaitAsync(Guard);

        // No time passes: shutdown cancels the rediscovery's token and stops waiting for the hung call at once.
        await manager.ShutdownAsync().WaitAsync(Guard);

        await FluentActions.Awaiting(() => rediscovery.WaitAsync(Guard)).Should().ThrowAsync<OperationCanceledException>();
        backend.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task ShutdownAsync_BackendDisposalNeverReturns_ReturnsAfterTheStopTimeoutAndLogsIt()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var disposing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new FakeGpuBackend(time, 2) { OnDispose = () => HangingDisposal(disposing) };
        var manager = await Bounded(time, logs, backend).StartAsync().WaitAsync(Guard);

        var shutdown = manager.ShutdownAsync();
        await disposing.Task.WaitAsync(Guard);
        time.Advance(StopTimeout - TimeSpan.FromMilliseconds(1));
        shutdown.IsCompleted.Should().BeFalse("the stop timeout has not passed yet");
        time.Advance(TimeSpan.FromMilliseconds(1));

        await shutdown.WaitAsync(Guard);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == StopAbandonedEvent && r.Level == LogLevel.Warning);
        Logged(logs, StoppedEvent).Should().Be(1);
    }

    [Fact]
    public async Task StartAsync_DiscoveryAndDisposalHang_FailsWithinDiscoveryPlusStopTimeout()
    {
        var time = new FakeTimeProvider(Start);
        var disposing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var backend = new FakeGpuBackend(time, 2)
        {
            OnDiscover = FakeGpuBackend.DiscoverHangingIgnoringToken,
            OnDispose = () => HangingDisposal(disposing),
        };

        var start = Bounded(time, null, backend).StartAsync();
        await backend.DiscoverEntered.Task.WaitAsync(Guard);
        time.Advance(DiscoveryTimeout);
        await disposing.Task.WaitAsync(Guard);
        start.IsCompleted.Should().BeFalse("the rollback waits for the backend's disposal up to the stop timeout");
        time.Advance(StopTimeout);

        (await FluentActions.Awaiting(() => start.WaitAsync(Guard)).Should().ThrowAsync<GpuClusterStartException>()).Which.Step.Should().Be(GpuClusterStartStep.Discovery);
    }

    [Fact]
    public async Task ReadOnceAsync_DiscoveryHangsIgnoringToken_FailsAfterTheTimeout()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { OnDiscover = FakeGpuBackend.DiscoverHangingIgnoringToken };

        var read = Bounded(time, null, backend).ReadOnceAsync();
        await backend.DiscoverEntered.Task.WaitAsync(Guard);
        time.Advance(DiscoveryTimeout);

        var thrown = (await FluentActions.Awaiting(() => read.WaitAsync(Guard)).Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.InnerException.Should().BeOfType<TimeoutException>();
        backend.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task StartAsync_AutoChoiceFallsBackToSimulated_LogsAWarningWithTheReason()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var setup = Bounded(time, logs);
        setup.Options.BackendChoice = GpuBackendChoice.Auto;
        setup.Options.NvmlOptions = new NvmlGpuBackendOptions { NvmlLibraryPath = "/nonexistent/exo-gpu-live-test/libnvidia-ml.so.1" };

        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.BackendKind.Should().Be(GpuBackendKind.Simulated);
        var warning = logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == FellBackToSimulatedEvent).Which;
        warning.Level.Should().Be(LogLevel.Warning);
        warning.Message.Should().Contain("SIMULATED").And.Contain("/nonexistent/exo-gpu-live-test/libnvidia-ml.so.1");
    }

    [Fact]
    public async Task StartAsync_NvmlChoiceWithoutDriver_RefusesTheSimulatedFallback()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var setup = Bounded(time, logs);
        setup.Options.BackendChoice = GpuBackendChoice.Nvml;
        setup.Options.NvmlOptions = new NvmlGpuBackendOptions { NvmlLibraryPath = "/nonexistent/exo-gpu-live-test/libnvidia-ml.so.1" };

        var thrown = (await FluentActions.Awaiting(() => GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard)).Should().ThrowAsync<GpuClusterStartException>()).Which;

        thrown.Step.Should().Be(GpuClusterStartStep.Backend);
        Logged(logs, FellBackToSimulatedEvent).Should().Be(0);
    }

    [Theory]
    [InlineData(0, 5, "DiscoveryTimeout must be more than 0 and at most one hour; it is 00:00:00.")]
    [InlineData(3601, 5, "DiscoveryTimeout must be more than 0 and at most one hour; it is 01:00:01.")]
    [InlineData(30, -1, "StopTimeout must be from 0 to one hour; it is -00:00:01.")]
    [InlineData(30, 3601, "StopTimeout must be from 0 to one hour; it is 01:00:01.")]
    public void Constructor_TimeoutOutOfRange_ThrowsNamingIt(int discoverySeconds, int stopSeconds, string error)
    {
        var options = new GpuClusteringOptions
        {
            DiscoveryTimeout = TimeSpan.FromSeconds(discoverySeconds),
            StopTimeout = TimeSpan.FromSeconds(stopSeconds),
        };

        var act = () => new GpuClusteringManager(options);

        act.Should().Throw<ArgumentException>().WithMessage("Invalid GPU cluster options: " + error + "*");
    }

    [Fact]
    public void Constructor_TimeoutsAtTheirBounds_Accepted()
    {
        var options = new GpuClusteringOptions { DiscoveryTimeout = GpuClusteringOptions.MaxDiscoveryTimeout, StopTimeout = TimeSpan.Zero };

        options.Invoking(o => new GpuClusteringManager(o)).Should().NotThrow();
        new GpuClusteringOptions { StopTimeout = GpuClusteringOptions.MaxStopTimeout, DiscoveryTimeout = TimeSpan.FromTicks(1) }.Invoking(o => new GpuClusteringManager(o)).Should().NotThrow();
    }

    /// <summary>A disposal that says it began and never ends.</summary>
    private static ValueTask HangingDisposal(TaskCompletionSource began)
    {
        began.TrySetResult();
        return new ValueTask(new TaskCompletionSource().Task);
    }
}
