using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Tests.Backends.Nvml;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary>
/// <see cref="GpuClusteringServices"/>: the clock, the logs and the backends come apart from the options, and reach every
/// component the manager makes (the NVML backend included). In the fake NVML collection: one test loads the fake.
/// </summary>
[Collection(FakeGpuTests.Name)]
public class ServicesTests
{
    [Fact]
    public async Task StartAsync_SimulatedChoiceWithSimulatedOptions_BackendRunsOnTheServicesClock()
    {
        var time = new FakeTimeProvider(Start);
        var options = new GpuClusteringOptions
        {
            BackendChoice = GpuBackendChoice.Simulated,
            SimulatedOptions = new SimulatedGpuBackendOptions { Seed = 5, DeviceCount = 2 },
            EnablePoller = false,
            RediscoveryInterval = null,
        };

        var manager = await GpuClusteringManager.StartAsync(options, new GpuClusteringServices { TimeProvider = time }).WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.Devices.Should().HaveCount(2);
        manager.GetStatuses().Should().OnlyContain(s => s.Latest!.Value.Timestamp == Start, "the made backend reads the services' clock, not the system's");
    }

    [Fact]
    public async Task StartAsync_NvmlChoice_NvmlBackendLogsThroughTheServicesLoggerFactory()
    {
        FakeGpuLibrary.Main.Reset(2);
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var options = new GpuClusteringOptions
        {
            BackendChoice = GpuBackendChoice.Nvml,
            NvmlOptions = NvmlTestContext.Options(),
            EnablePoller = false,
            RediscoveryInterval = null,
        };

        var manager = await GpuClusteringManager.StartAsync(options, new GpuClusteringServices { TimeProvider = time, LoggerFactory = logs }).WaitAsync(Guard);
        await using var _ = Stop(manager, time);

        manager.BackendKind.Should().Be(GpuBackendKind.Nvml);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == 401)
            .Which.Category.Should().Be("Exo.Gpu.Clustering.Backends.Nvml.NvmlGpuBackend");
        manager.GetStatuses().Should().OnlyContain(s => s.Latest!.Value.Timestamp == Start, "the NVML backend stamps readings on the services' clock");
    }

    [Fact]
    public void Constructor_ServicesWithoutClockOrBackendList_ThrowsNamingServices()
    {
        var services = new GpuClusteringServices { TimeProvider = null!, Backends = null! };

        var act = () => new GpuClusteringManager(new GpuClusteringOptions(), services);

        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "services"
            && e.Message == "Invalid GPU cluster options: TimeProvider must not be null. Backends must not be null. (Parameter 'services')");
    }

    [Fact]
    public async Task StartAsync_InvalidOptionsWithGivenBackend_ListsEveryProblemAndDisposesTheBackend()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1);
        var services = new GpuClusteringServices { TimeProvider = time, Backends = { backend, backend } };

        var act = () => GpuClusteringManager.StartAsync(new GpuClusteringOptions { DrainTimeout = TimeSpan.FromSeconds(-1) }, services);

        var thrown = (await act.Should().ThrowExactlyAsync<ArgumentException>()).Which;
        thrown.ParamName.Should().Be("options");
        thrown.Message.Should().Be(
            "Invalid GPU cluster options: DrainTimeout must be from 0 to one hour; it is -00:00:01. "
            + "Backends must not hold the same backend twice. (Parameter 'options')");
        backend.DisposeCalls.Should().Be(1);
    }

    [Fact]
    public async Task Constructor_ServicesChangedAfterwards_UsesWhatItWasGiven()
    {
        var time = new FakeTimeProvider(Start);
        var first = Simulated(time, devices: 2);
        var services = new GpuClusteringServices { TimeProvider = time, Backends = { first } };
        await using var manager = new GpuClusteringManager(Options(time, null).Options, services);
        await using var later = Simulated(time, devices: 3, seed: 9);
        services.Backends.Add(later);
        services.TimeProvider = TimeProvider.System;

        await manager.StartAsync(CancellationToken.None).WaitAsync(Guard);

        manager.Devices.Should().HaveCount(2);
        manager.GetStatuses().Should().OnlyContain(s => s.Latest!.Value.Timestamp == Start);
        await manager.ShutdownAsync().WaitAsync(Guard);
        await FluentActions.Awaiting(() => first.DiscoverAsync(CancellationToken.None).AsTask()).Should().ThrowAsync<ObjectDisposedException>("the manager owned the backend it was given");
    }
}
