using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Hosting.Tests.HostKit;

namespace Exo.Gpu.Clustering.Hosting.Tests;

public class AddGpuClusteringTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AddGpuClustering_WorkerBeforeOrAfter_InjectedStartedFirstAndDrainedLast(bool workerFirst)
    {
        var time = new FakeTimeProvider(Start);
        var builder = Builder(time, Settings());
        if (workerFirst)
        {
            builder.Services.AddSingleton<LeaseWorker>().AddHostedService(sp => sp.GetRequiredService<LeaseWorker>());
        }

        builder.Services.AddGpuClustering(builder.Configuration.GetSection("GpuClustering"));
        if (!workerFirst)
        {
            builder.Services.AddSingleton<LeaseWorker>().AddHostedService(sp => sp.GetRequiredService<LeaseWorker>());
        }

        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Guard);
        var worker = host.Services.GetRequiredService<LeaseWorker>();
        var manager = host.Services.GetRequiredService<GpuClusteringManager>();

        worker.RunningAtStart.Should().BeTrue("the manager starts in StartingAsync, before any hosted service's StartAsync");
        worker.Lease.Should().NotBeNull();
        await host.StopAsync().WaitAsync(Guard);

        worker.RunningAtStop.Should().BeTrue("the manager stops in StoppedAsync, after every hosted service's StopAsync");
        worker.LeaseRevokedAtStop.Should().BeFalse();
        (worker.AfterRelease!.Granted, worker.AfterRelease.Released, worker.AfterRelease.Revoked).Should().Be((1, 1, 0));
        manager.IsShuttingDown.Should().BeTrue();
    }

    [Fact]
    public async Task StopAsync_TokenAlreadyCancelled_NoErrorAndTheManagerStillShutsDown()
    {
        var time = new FakeTimeProvider(Start);
        var builder = Builder(time, Settings());
        builder.Services.AddGpuClustering(builder.Configuration.GetSection("GpuClustering"));
        builder.Services.AddSingleton<LeaseWorker>().AddHostedService(sp => sp.GetRequiredService<LeaseWorker>());
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Guard);
        var manager = host.Services.GetRequiredService<GpuClusteringManager>();

        // A forced stop (Orleans' KillSiloAsync, a second Ctrl+C): hosted services stop waiting, they do not throw.
        await host.StopAsync(new CancellationToken(canceled: true)).WaitAsync(Guard);

        manager.IsShuttingDown.Should().BeTrue();
        await manager.ShutdownAsync().WaitAsync(Guard);
        manager.IsRunning.Should().BeFalse();
        var worker = host.Services.GetRequiredService<LeaseWorker>();
        (worker.AfterRelease!.Granted, worker.AfterRelease.Released, worker.AfterRelease.Revoked).Should().Be((1, 1, 0));
    }

    [Fact]
    public async Task AddGpuClustering_InvalidConfiguration_StartFailsNamingEveryKey()
    {
        var time = new FakeTimeProvider(Start);
        var builder = Builder(time, Settings(("GpuClustering:Telemetry:HistoryCapacity", "0"), ("GpuClustering:SimulatedOptions:Faults", "hot:5@1s")));
        builder.Services.AddGpuClustering(builder.Configuration.GetSection("GpuClustering"));
        using var host = builder.Build();

        var thrown = (await FluentActions.Awaiting(() => host.StartAsync().WaitAsync(Guard)).Should().ThrowAsync<OptionsValidationException>()).Which;

        thrown.Failures.Should().Equal(
            "GpuClustering:SimulatedOptions:Faults fault 'hot:5@1s' names device 5, but SimulatedOptions.DeviceCount is 2.",
            "GpuClustering:Telemetry:HistoryCapacity must be from 1 to 1048576; it is 0.");
        thrown.Message.Should().Be(
            "GpuClustering:SimulatedOptions:Faults fault 'hot:5@1s' names device 5, but SimulatedOptions.DeviceCount is 2.; "
            + "GpuClustering:Telemetry:HistoryCapacity must be from 1 to 1048576; it is 0.");
    }

    [Fact]
    public async Task AddGpuClustering_ConfigureAction_ValidatesByPropertyPathAndStarts()
    {
        var time = new FakeTimeProvider(Start);
        var builder = Builder(time, []);
        builder.Services.AddGpuClustering(o => o.Selector.MaxLeasesPerDevice = 0);
        using (var bad = builder.Build())
        {
            (await FluentActions.Awaiting(() => bad.StartAsync().WaitAsync(Guard)).Should().ThrowAsync<OptionsValidationException>())
                .Which.Failures.Should().Equal("Selector:MaxLeasesPerDevice must be at least 1, or null for no limit; it is 0.");
        }

        builder = Builder(time, []);
        builder.Services.AddGpuClustering(o =>
        {
            o.BackendChoice = GpuBackendChoice.Simulated;
            o.SimulatedOptions = new SimulatedGpuBackendOptions { DeviceCount = 3 };
            o.EnablePoller = false;
        });
        using var host = builder.Build();
        await host.StartAsync().WaitAsync(Guard);
        host.Services.GetRequiredService<GpuClusteringManager>().Devices.Should().HaveCount(3);
        await host.StopAsync().WaitAsync(Guard);
    }

    [Fact]
    public async Task AddGpuClustering_ServicesFromTheContainer_ClockLogsAndBackend()
    {
        var time = new FakeTimeProvider(Start);
        var builder = Builder(time, Settings());
        builder.Services.AddLogging(b => b.AddFakeLogging());
        builder.Services.AddSingleton<IGpuBackend>(_ => new SimulatedGpuBackend(new SimulatedGpuBackendOptions { DeviceCount = 5, Seed = 3 }, time));
        builder.Services.AddGpuClustering(builder.Configuration.GetSection("GpuClustering"));
        using var host = builder.Build();

        await host.StartAsync().WaitAsync(Guard);
        var manager = host.Services.GetRequiredService<GpuClusteringManager>();

        manager.Devices.Should().HaveCount(5, "the registered backend wins over BackendChoice");
        manager.GetStatuses().Should().OnlyContain(s => s.Latest!.Value.Timestamp == Start, "the container's FakeTimeProvider is the clock");
        host.Services.GetFakeLogCollector().GetSnapshot().Should().Contain(r => r.Category == typeof(GpuClusteringManager).FullName && r.Id.Id == 100);
        await host.StopAsync().WaitAsync(Guard);
    }

    [Fact]
    public void AddGpuClustering_CalledTwice_RegistersOnce_LaterValuesWin()
    {
        var services = new ServiceCollection();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Settings()).Build();

        services.AddGpuClustering(configuration.GetSection("GpuClustering"));
        services.AddGpuClustering(o => o.DrainTimeout = TimeSpan.FromSeconds(3));

        services.Count(d => d.ServiceType == typeof(GpuClusteringManager)).Should().Be(1);
        services.Count(d => d.ServiceType == typeof(IHostedService)).Should().Be(1);
        services.Count(d => d.ServiceType == typeof(IValidateOptions<GpuClusteringOptions>)).Should().Be(1);
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<GpuClusteringOptions>>().Value;
        (options.BackendChoice, options.DrainTimeout).Should().Be((GpuBackendChoice.Simulated, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public void AddGpuClustering_NullArguments_Throw()
    {
        var services = new ServiceCollection();
        FluentActions.Invoking(() => ((IServiceCollection)null!).AddGpuClustering(o => { })).Should().Throw<ArgumentNullException>().WithParameterName("services");
        FluentActions.Invoking(() => services.AddGpuClustering((IConfiguration)null!)).Should().Throw<ArgumentNullException>().WithParameterName("section");
        FluentActions.Invoking(() => services.AddGpuClustering((Action<GpuClusteringOptions>)null!)).Should().Throw<ArgumentNullException>().WithParameterName("configure");
    }

    [Fact]
    public async Task AddGpuClustering_ResolvedBeforeStart_NotYetRunning()
    {
        var time = new FakeTimeProvider(Start);
        var builder = Builder(time, Settings());
        builder.Services.AddGpuClustering(builder.Configuration.GetSection("GpuClustering"));
        using var host = builder.Build();

        var manager = host.Services.GetRequiredService<GpuClusteringManager>();
        manager.IsRunning.Should().BeFalse("construction is synchronous and discovers nothing");
        await host.StartAsync().WaitAsync(Guard);
        manager.IsRunning.Should().BeTrue();
        manager.BackendKind.Should().Be(GpuBackendKind.Simulated);
        await host.StopAsync().WaitAsync(Guard);
    }
}
