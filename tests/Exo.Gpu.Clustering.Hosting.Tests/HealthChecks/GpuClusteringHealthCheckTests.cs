using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Hosting.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Hosting.Tests.HealthChecks.HealthCheckTestKit;

namespace Exo.Gpu.Clustering.Hosting.Tests.HealthChecks;

public class GpuClusteringHealthCheckTests
{
    [Fact]
    public async Task Check_EveryDeviceHealthy_HealthyWithEachDeviceInData()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = await StartedAsync(time, devices: 4);
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck());

        var entry = await CheckAsync(services);

        entry.Status.Should().Be(HealthStatus.Healthy);
        entry.Description.Should().Be("4 of 4 GPUs healthy.");
        foreach (var device in manager.Devices)
        {
            entry.Data[device.Uuid].Should().Be("Healthy");
        }

        entry.Data["backend"].Should().Be("simulated");
        entry.Data["devices"].Should().Be(4);
        entry.Data["usableDevices"].Should().Be(4);
    }

    [Fact]
    public async Task Check_ADeviceRunsHot_DegradedWithItsHealthAndReason()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = await StartedAsync(time, devices: 4, faults: "hot:1@0s");
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck());
        var hot = manager.GetStatuses()[1];
        hot.Health.Should().NotBe(GpuHealth.Healthy);

        var entry = await CheckAsync(services);

        entry.Status.Should().Be(HealthStatus.Degraded);
        entry.Data[hot.Device.Uuid].Should().Be($"{hot.Health}: {hot.Reason}");
        hot.Reason.Should().NotBeNullOrEmpty();
        entry.Description.Should().StartWith("1 of 4 GPUs not healthy: 1 (" + hot.Device.Uuid + ")");
        manager.Devices.Where(d => d.Index != 1).Should().OnlyContain(d => (string)entry.Data[d.Uuid] == "Healthy");
        entry.Data["usableDevices"].Should().Be(hot.Health is GpuHealth.Degraded ? 4 : 3);
    }

    [Fact]
    public async Task Check_FewerUsableDevicesThanTheMinimum_Unhealthy()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = await StartedAsync(time, devices: 4, faults: "ecc:2@0s");
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck(configure: o => o.MinimumUsableDevices = 4));

        var entry = await CheckAsync(services);

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().StartWith("3 of 4 GPUs usable, at least 4 required: 2 (");
        ((string)entry.Data[manager.Devices[2].Uuid]).Should().StartWith("Unhealthy: ").And.Contain("ECC");
        entry.Data["minimumUsableDevices"].Should().Be(4);
    }

    [Fact]
    public async Task Check_TheOnlyDeviceLost_Unhealthy()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = await StartedAsync(time, devices: 1, faults: "lost:0@10s");
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck());
        (await CheckAsync(services)).Status.Should().Be(HealthStatus.Healthy);

        time.Advance(TimeSpan.FromSeconds(10));
        await manager.RefreshTelemetryAsync().WaitAsync(Guard);
        var entry = await CheckAsync(services);

        manager.GetStatuses()[0].Health.Should().Be(GpuHealth.Lost);
        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().StartWith("0 of 1 GPUs usable, at least 1 required");
        ((string)entry.Data[manager.Devices[0].Uuid]).Should().StartWith("Lost");
    }

    [Fact]
    public async Task Check_SimulatedWhenRealGpusAreRequired_FailureStatus()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = await StartedAsync(time, devices: 2);
        await using var services = Services(manager, b => b
            .AddGpuClusteringHealthCheck(configure: o => o.SimulatedIsHealthy = false)
            .AddGpuClusteringHealthCheck("gpu-dev"));

        var strict = await CheckAsync(services);
        var lenient = await CheckAsync(services, "gpu-dev");

        strict.Status.Should().Be(HealthStatus.Unhealthy);
        strict.Description.Should().Be("The GPU cluster runs on simulated devices, and real GPUs are required.");
        lenient.Status.Should().Be(HealthStatus.Healthy, "each check has its own options, by name");
    }

    [Fact]
    public async Task Check_ManagerNotStarted_UnhealthyNotStartedWithoutThrowing()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = Manager(time);
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck());

        var entry = await CheckAsync(services);

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().Be("The GPU cluster has not started.");
        entry.Exception.Should().BeNull();
    }

    [Fact]
    public async Task Check_ManagerShutDown_UnhealthyShuttingDown()
    {
        var time = new FakeTimeProvider(Start);
        var manager = await StartedAsync(time);
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck());
        await manager.DisposeAsync().AsTask().WaitAsync(Guard);

        var entry = await CheckAsync(services);

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().Be("The GPU cluster is shutting down or stopped.");
        entry.Exception.Should().BeNull();
    }

    [Fact]
    public async Task Check_NoManagerRegistered_UnhealthyNamingAddGpuClustering()
    {
        await using var services = Services(null, b => b.AddGpuClusteringHealthCheck());

        var entry = await CheckAsync(services);

        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().Contain("AddGpuClustering");
    }

    [Fact]
    public async Task Check_NameFailureStatusAndTags_AsRegistered()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = await StartedAsync(time, devices: 1);
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck(
            "gpus-ready", o => o.MinimumUsableDevices = 2, HealthStatus.Degraded, ["ready"]));

        var entry = await CheckAsync(services, "gpus-ready");

        entry.Status.Should().Be(HealthStatus.Degraded);
        entry.Description.Should().StartWith("1 of 1 GPUs usable, at least 2 required");
        entry.Tags.Should().Equal("ready");
    }

    [Fact]
    public async Task AddGpuClusteringHealthCheck_DefaultName_IsGpu()
    {
        await using var services = Services(null, b => b.AddGpuClusteringHealthCheck());

        var registrations = services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations;

        registrations.Should().ContainSingle().Which.Name.Should().Be("gpu");
        GpuClusteringHealthChecksBuilderExtensions.DefaultName.Should().Be("gpu");
    }

    [Fact]
    public async Task AddGpuClusteringHealthCheck_NegativeMinimum_FailsOnStartAndWhenRunNamingTheOption()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = await StartedAsync(time, devices: 1);
        await using var services = Services(manager, b => b.AddGpuClusteringHealthCheck(configure: o => o.MinimumUsableDevices = -1));

        var onStart = () => services.GetRequiredService<IStartupValidator>().Validate();
        var entry = await CheckAsync(services);

        onStart.Should().Throw<OptionsValidationException>().WithMessage("MinimumUsableDevices must be 0 or more.");
        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().Be("MinimumUsableDevices must be 0 or more.");
        entry.Exception.Should().BeOfType<OptionsValidationException>();
    }

    [Fact]
    public void AddGpuClusteringHealthCheck_BadArguments_Throw()
    {
        var builder = new ServiceCollection().AddHealthChecks();
        FluentActions.Invoking(() => ((IHealthChecksBuilder)null!).AddGpuClusteringHealthCheck())
            .Should().Throw<ArgumentNullException>().WithParameterName("builder");
        FluentActions.Invoking(() => builder.AddGpuClusteringHealthCheck(" "))
            .Should().Throw<ArgumentException>().WithParameterName("name");
        FluentActions.Invoking(() => builder.AddGpuClusteringHealthCheck(null!))
            .Should().Throw<ArgumentNullException>().WithParameterName("name");
    }

    [Fact]
    public void Options_Defaults()
    {
        var options = new GpuClusteringHealthCheckOptions();
        options.MinimumUsableDevices.Should().Be(1);
        options.SimulatedIsHealthy.Should().BeTrue();
    }
}
