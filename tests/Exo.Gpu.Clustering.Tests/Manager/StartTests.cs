using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

public class StartTests
{
    [Fact]
    public async Task StartAsync_SimulatedCluster_DiscoversDevicesRecordsFirstReadingsAndSelectsAtOnce()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 4);
        await using var _ = Stop(manager, time);

        manager.Devices.Select(d => d.Uuid).Should().Equal(backend.AllDevices.Select(d => d.Uuid));
        manager.BackendKind.Should().Be(GpuBackendKind.Simulated);
        manager.BackendFallbackReason.Should().BeNull();
        manager.IsShuttingDown.Should().BeFalse();
        foreach (var device in manager.Devices)
        {
            // The poller is off: the one reading is the start's own.
            manager.Telemetry.GetHistory(device.Uuid).Select(s => s.Timestamp).Should().Equal(Start);
            manager.GetStatus(device.Uuid).Should().Match<GpuDeviceStatus>(s => s.IsFresh && s.Health == GpuHealth.Healthy);
        }

        manager.SelectBest(40 * GiB).Should().BeOneOf(manager.Devices);
        manager.TryAcquire(new GpuRequest { MemoryBytes = 40 * GiB }, out var lease).Should().BeTrue();
        await lease.DisposeAsync();
        manager.GetClusterTelemetry().FreshDeviceCount.Should().Be(4);
    }

    [Fact]
    public async Task StartAsync_PollerEnabled_TicksAtStartPlusEachPollInterval()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time, devices: 3, configure: o => o.EnablePoller = true);
        await using var __ = Stop(manager, time);
        var samples = manager.Telemetry.Subscribe(1024);

        // Half an interval at once, before the poller's loop has necessarily run: the ticks still fall on start + k × interval.
        time.Advance(PollInterval / 2);
        time.Advance(PollInterval / 2);
        await WaitForReadingsAsync(samples, manager.Devices, Start + PollInterval);
        time.Advance(PollInterval);
        await WaitForReadingsAsync(samples, manager.Devices, Start + (2 * PollInterval));

        foreach (var device in manager.Devices)
        {
            manager.Telemetry.GetHistory(device.Uuid).Select(s => s.Timestamp).Should().Contain([Start + PollInterval, Start + (2 * PollInterval)]);
        }
    }

    [Fact]
    public async Task StartAsync_SeveralInvalidOptions_OneArgumentExceptionListsEveryProblem()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var setup = Options(time, null, backend, backend);
        setup.Options.BackendChoice = (GpuBackendChoice)42;
        setup.Options.Telemetry = new TelemetryOptions { PollInterval = TimeSpan.Zero, HistoryCapacity = 0 };
        setup.Options.RediscoveryInterval = TimeSpan.FromSeconds(-1);
        setup.Options.DrainTimeout = TimeSpan.FromHours(2);

        var act = () => GpuClusteringManager.StartAsync(setup.Options, setup.Services);

        var thrown = (await act.Should().ThrowExactlyAsync<ArgumentException>()).Which;
        thrown.ParamName.Should().Be("options");
        thrown.Message.Should().StartWith("Invalid GPU cluster options: ").And.ContainAll(
            "Backends must not hold the same backend twice",
            "BackendChoice must be a defined GpuBackendChoice; it is 42.",
            "Telemetry.HistoryCapacity must be from 1",
            "Telemetry.PollInterval must be more than 0",
            "RediscoveryInterval must be more than 0",
            "DrainTimeout must be from 0 to one hour");
        backend.DiscoverCalls.Should().Be(0, "nothing starts with invalid options");
        backend.DisposeCalls.Should().Be(1, "the manager took the backend over and disposes it once");
    }

    [Fact]
    public async Task StartAsync_TwoSimulatedBackendsWithDifferentSeeds_CombinesTheirDevices()
    {
        var time = new FakeTimeProvider(Start);
        var first = Simulated(time, devices: 2, seed: 1);
        var second = Simulated(time, devices: 3, seed: 2);
        var manager = await Options(time, null, first, second).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Select(d => d.Uuid).Should().Equal(first.AllDevices.Concat(second.AllDevices).Select(d => d.Uuid));
        manager.Devices.Select(d => d.Uuid).Should().OnlyHaveUniqueItems();

        // Each reading is routed to the backend that discovered the device.
        time.Advance(PollInterval);
        await manager.RefreshTelemetryAsync().WaitAsync(Guard);
        manager.GetStatuses().Should().OnlyContain(s => s.IsFresh && s.Latest!.Value.Timestamp == Start + PollInterval);
        manager.GetClusterTelemetry().FreshDeviceCount.Should().Be(5);
    }

    [Fact]
    public async Task StartAsync_TwoBackendsWithTheSameUuid_FailsAtDiscoveryAndDisposesBoth()
    {
        var time = new FakeTimeProvider(Start);
        var first = Simulated(time, devices: 2, seed: 5);
        var second = Simulated(time, devices: 2, seed: 5);

        var act = () => Options(time, null, first, second).StartAsync();

        var thrown = (await act.Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.InnerException.Should().BeOfType<GpuBackendUnavailableException>().Which.Message.Should().Contain(first.AllDevices[0].Uuid);
        await AssertDisposedAsync(first);
        await AssertDisposedAsync(second);
    }

    [Fact]
    public async Task StartAsync_NvmlLibraryMissing_FailsAtBackendStep()
    {
        var time = new FakeTimeProvider(Start);
        var setup = Options(time, null);
        setup.Options.BackendChoice = GpuBackendChoice.Nvml;
        setup.Options.NvmlOptions = new NvmlGpuBackendOptions
        {
            NvmlLibraryPath = "/nonexistent/exo-gpu-manager-test/libnvidia-ml.so.1",
            ProcessEnvironment = _ => null,
        };

        var act = () => GpuClusteringManager.StartAsync(setup.Options, setup.Services);

        var thrown = (await act.Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Backend);
        thrown.InnerException.Should().BeOfType<GpuBackendUnavailableException>();
    }

    [Fact]
    public async Task StartAsync_DiscoveryThrows_FailsAtDiscoveryAndNothingRuns()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { OnDiscover = _ => throw new GpuBackendUnavailableException("driver gone") };
        var setup = Options(time, null, backend);
        setup.Options.EnablePoller = true;
        setup.Options.RediscoveryInterval = TimeSpan.FromSeconds(5);

        var act = () => GpuClusteringManager.StartAsync(setup.Options, setup.Services);

        var thrown = (await act.Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.InnerException.Should().BeOfType<GpuBackendUnavailableException>().Which.Message.Should().Be("driver gone");
        await AssertNothingRunsAsync(time, backend);
    }

    [Fact]
    public async Task StartAsync_DiscoveryFindsNoDevice_FailsAtDiscovery()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { Listed = [] };

        var act = () => Options(time, null, backend).StartAsync();

        var thrown = (await act.Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.Message.Should().Contain("no device was discovered");
        await AssertNothingRunsAsync(time, backend);
    }

    [Fact]
    public async Task StartAsync_EveryFirstReadingFails_FailsAtDiscovery()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { OnSample = (d, _) => throw new GpuSamplingException("no reading") };

        var act = () => Options(time, null, backend).StartAsync();

        var thrown = (await act.Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.Message.Should().Contain("none of the 2 devices discovered could be read");
        await AssertNothingRunsAsync(time, backend);
    }

    [Fact]
    public async Task StartAsync_DiscoveryHangsAndStartIsCancelled_ThrowsCancelledAndDisposesEverything()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2)
        {
            OnDiscover = async ct =>
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
                return [];
            },
        };
        using var cancel = new CancellationTokenSource();

        var start = Options(time, null, backend).StartAsync(cancel.Token);
        await backend.DiscoverEntered.Task.WaitAsync(Guard);
        start.IsCompleted.Should().BeFalse("discovery hangs until cancelled");
        await cancel.CancelAsync();

        await FluentActions.Awaiting(() => start.WaitAsync(Guard)).Should().ThrowAsync<OperationCanceledException>();
        await AssertNothingRunsAsync(time, backend);
    }

    [Fact]
    public async Task StartAsync_CancelledAfterTheFirstReadings_ThrowsCancelledAndDisposesEverything()
    {
        // The token fires while the first reading is taken, so the start fails at its last step (starting the
        // poller), after the collector, the selector and the health-event pump exist.
        var time = new FakeTimeProvider(Start);
        using var cancel = new CancellationTokenSource();
        var backend = new FakeGpuBackend(time, 1);
        backend.OnSample = (d, _) =>
        {
            cancel.Cancel();
            return new ValueTask<GpuSample>(backend.HealthySample());
        };
        var setup = Options(time, null, backend);
        setup.Options.EnablePoller = true;

        var act = () => GpuClusteringManager.StartAsync(setup.Options, setup.Services, cancel.Token).WaitAsync(Guard);

        await act.Should().ThrowAsync<OperationCanceledException>();
        await AssertNothingRunsAsync(time, backend);
    }

    [Fact]
    public async Task StartAsync_OneDevicesFirstReadingFails_DeviceExcludedAndLogged()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var backend = new FakeGpuBackend(time, 3);
        var broken = backend.AllDevices[1];
        backend.OnSample = (d, _) => d.Equals(broken) ? throw new GpuSamplingException("bad read") : new ValueTask<GpuSample>(backend.HealthySample());

        var manager = await Options(time, logs, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().Equal(backend.AllDevices[0], backend.AllDevices[2]);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == DeviceExcludedEvent)
            .Which.Should().Match<Microsoft.Extensions.Logging.Testing.FakeLogRecord>(r => r.Message.Contains(broken.Uuid) && r.Exception is GpuSamplingException);
    }

    [Fact]
    public async Task StartAsync_OneDevicesFirstReadingFailsUnderStrictStart_FailsAndDisposes()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 3);
        var broken = backend.AllDevices[1];
        backend.OnSample = (d, _) => d.Equals(broken) ? throw new GpuSamplingException("bad read") : new ValueTask<GpuSample>(backend.HealthySample());
        var setup = Options(time, null, backend);
        setup.Options.StrictStart = true;

        var act = () => GpuClusteringManager.StartAsync(setup.Options, setup.Services);

        var thrown = (await act.Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.Message.Should().Contain(broken.Uuid);
        thrown.InnerException.Should().BeOfType<GpuSamplingException>();
        await AssertNothingRunsAsync(time, backend);
    }

    [Fact]
    public async Task StartAsync_FirstReadingHangsIgnoringItsToken_DeviceExcludedAfterTheSampleTimeout()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var backend = new FakeGpuBackend(time, 2);
        var hung = backend.AllDevices[0];
        backend.OnSample = (d, ct) => d.Equals(hung) ? FakeGpuBackend.HangIgnoringToken(d, ct) : new ValueTask<GpuSample>(backend.HealthySample());

        var start = Options(time, logs, backend).StartAsync();
        await backend.SampleEntered.Task.WaitAsync(Guard);
        time.Advance(SampleTimeout);
        var manager = await start.WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().Equal(backend.AllDevices[1]);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == DeviceExcludedEvent && r.Exception is TimeoutException);
    }

    [Fact]
    public async Task StartAsync_FirstReadingHangsUnderStrictStart_FailsWithTimeout()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { OnSample = FakeGpuBackend.HangUntilCanceled };
        var setup = Options(time, null, backend);
        setup.Options.StrictStart = true;

        var start = GpuClusteringManager.StartAsync(setup.Options, setup.Services);
        await backend.SampleEntered.Task.WaitAsync(Guard);
        time.Advance(SampleTimeout);

        var thrown = (await FluentActions.Awaiting(() => start.WaitAsync(Guard)).Should().ThrowAsync<GpuClusterStartException>()).Which;
        thrown.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.InnerException.Should().BeOfType<TimeoutException>();
        await AssertNothingRunsAsync(time, backend);
    }

    [Fact]
    public async Task StartAsync_FirstReadingThrowsAnUnexpectedException_OnlyThatDeviceIsExcluded()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var broken = backend.AllDevices[0];
        backend.OnSample = (d, _) => d.Equals(broken) ? throw new InvalidOperationException("driver bug") : new ValueTask<GpuSample>(backend.HealthySample());

        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().Equal(backend.AllDevices[1]);
    }

    [Fact]
    public async Task StartAsync_FirstReadingInvalid_OnlyThatDeviceIsExcluded()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var backend = new FakeGpuBackend(time, 2);
        var broken = backend.AllDevices[1];
        backend.OnSample = (d, _) => new ValueTask<GpuSample>(d.Equals(broken)
            ? new GpuSample { Timestamp = time.GetUtcNow(), UtilizationPercent = 140 }
            : backend.HealthySample());

        var manager = await Options(time, logs, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().Equal(backend.AllDevices[0]);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == DeviceExcludedEvent && r.Exception is GpuSampleValidationException);
    }

    [Fact]
    public async Task StartAsync_OneOfTwoBackendsFailsDiscovery_StartsWithTheOtherAndLogs()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var good = new FakeGpuBackend(time, 2, "good");
        var bad = new FakeGpuBackend(time, 2, "bad") { OnDiscover = _ => throw new GpuBackendUnavailableException("no driver") };

        var manager = await Options(time, logs, bad, good).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().Equal(good.AllDevices);
        Logged(logs, BackendDiscoveryFailedEvent).Should().Be(1);
    }

    [Fact]
    public async Task StartAsync_OneOfTwoBackendsFailsDiscoveryUnderStrictStart_FailsAndDisposesBoth()
    {
        var time = new FakeTimeProvider(Start);
        var good = new FakeGpuBackend(time, 2, "good");
        var bad = new FakeGpuBackend(time, 2, "bad") { OnDiscover = _ => throw new GpuBackendUnavailableException("no driver") };
        var setup = Options(time, null, good, bad);
        setup.Options.StrictStart = true;

        var act = () => GpuClusteringManager.StartAsync(setup.Options, setup.Services);

        (await act.Should().ThrowAsync<GpuClusterStartException>()).Which.Step.Should().Be(GpuClusterStartStep.Discovery);
        await AssertNothingRunsAsync(time, good);
        await AssertNothingRunsAsync(time, bad);
    }

    /// <summary>Reads streamed readings until every device has one stamped <paramref name="at"/>.</summary>
    internal static async Task WaitForReadingsAsync(System.Threading.Channels.ChannelReader<DeviceSample> samples, IEnumerable<GpuDevice> devices, DateTimeOffset at)
    {
        var pending = devices.Select(d => d.Uuid).ToHashSet();
        using var guard = new CancellationTokenSource(Guard);
        while (pending.Count > 0)
        {
            var next = await samples.ReadAsync(guard.Token);
            if (next.Sample.Timestamp == at)
            {
                pending.Remove(next.Device.Uuid);
            }
        }
    }

    /// <summary>The backend was disposed once, and neither the clock nor the thread pool makes anything call it again.</summary>
    private static async Task AssertNothingRunsAsync(FakeTimeProvider time, FakeGpuBackend backend)
    {
        backend.DisposeCalls.Should().Be(1);
        var (discoveries, samples) = (backend.DiscoverCalls, backend.SampleCalls);
        for (var i = 0; i < 60; i++)
        {
            time.Advance(PollInterval);
            await Task.Yield();
        }

        (backend.DiscoverCalls, backend.SampleCalls).Should().Be((discoveries, samples), "no poller, rediscovery or timer survives a failed start");
        backend.DisposeCalls.Should().Be(1);
    }

    private static async Task AssertDisposedAsync(Exo.Gpu.Clustering.Backends.Simulated.SimulatedGpuBackend backend) =>
        await FluentActions.Awaiting(() => backend.DiscoverAsync(CancellationToken.None).AsTask()).Should().ThrowAsync<ObjectDisposedException>();
}
