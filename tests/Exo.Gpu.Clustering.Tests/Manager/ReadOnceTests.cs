using System.Text.Json;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary><see cref="GpuClusteringManager.ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>: one nvidia-smi call.</summary>
public class ReadOnceTests
{
    [Fact]
    public async Task ReadOnceAsync_SimulatedCluster_EveryDeviceReadAndJudgedThenBackendDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var backend = Simulated(time, devices: 4, faults: "hot:1@0s,ecc:2@0s");
        var setup = Options(time, null, backend);

        var snapshot = await GpuClusteringManager.ReadOnceAsync(setup.Options, setup.Services).WaitAsync(Guard);

        snapshot.BackendKind.Should().Be(GpuBackendKind.Simulated);
        snapshot.BackendFallbackReason.Should().BeNull();
        snapshot.Devices.Select(d => d.Device).Should().Equal(backend.AllDevices);
        snapshot.Devices.Select(d => d.Health).Should().Equal(GpuHealth.Healthy, GpuHealth.Degraded, GpuHealth.Unhealthy, GpuHealth.Healthy);
        snapshot.Devices.Should().OnlyContain(d => d.IsFresh && d.Latest != null);
        snapshot.Failures.Should().Equal(null, null, null, null);
        snapshot.Cluster.DeviceCount.Should().Be(4);
        snapshot.Cluster.FreshDeviceCount.Should().Be(4);
        snapshot.Cluster.Timestamp.Should().Be(Start);
        await backend.Invoking(b => b.DiscoverAsync(CancellationToken.None).AsTask()).Should().ThrowAsync<ObjectDisposedException>("the snapshot keeps nothing running");
    }

    [Fact]
    public async Task ReadOnceAsync_FailingAndHungDevices_KeptWithoutReadingAndSayWhy()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 3);
        backend.OnSample = (device, token) => device == backend.AllDevices[0]
            ? ValueTask.FromException<GpuSample>(new GpuSamplingException("not supported", "NVML_ERROR_NOT_SUPPORTED", 3))
            : device == backend.AllDevices[1] ? FakeGpuBackend.HangIgnoringToken(device, token)
            : new ValueTask<GpuSample>(backend.HealthySample());

        var read = Options(time, null, backend).ReadOnceAsync();
        read.IsCompleted.Should().BeFalse("device 1 hangs until its timeout");
        time.Advance(SampleTimeout);
        var snapshot = await read.WaitAsync(Guard);

        snapshot.Devices.Select(d => d.Health).Should().Equal(GpuHealth.Unknown, GpuHealth.Unknown, GpuHealth.Healthy);
        snapshot.Devices[0].Latest.Should().BeNull();
        snapshot.Devices[1].Latest.Should().BeNull();
        snapshot.Failures[0].Should().Be("not supported (NVML_ERROR_NOT_SUPPORTED)");
        snapshot.Failures[1].Should().Be("no reading within 250 ms");
        snapshot.Failures[2].Should().BeNull();
        backend.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task ReadOnceAsync_NoDevice_EmptySnapshot()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2) { Listed = [] };

        var snapshot = await Options(time, null, backend).ReadOnceAsync().WaitAsync(Guard);

        snapshot.Devices.Should().BeEmpty();
        snapshot.Failures.Should().BeEmpty();
        snapshot.Cluster.DeviceCount.Should().Be(0);
        backend.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task ReadOnceAsync_DiscoveryFails_StartExceptionNamesDiscoveryAndBackendDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2)
        {
            OnDiscover = _ => ValueTask.FromException<IReadOnlyList<GpuDevice>>(new GpuBackendUnavailableException("driver not loaded")),
        };

        var thrown = await FluentActions.Invoking(() => Options(time, null, backend).ReadOnceAsync()).Should().ThrowAsync<GpuClusterStartException>();

        thrown.Which.Step.Should().Be(GpuClusterStartStep.Discovery);
        thrown.Which.InnerException.Should().BeOfType<GpuBackendUnavailableException>();
        backend.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task ReadOnceAsync_InvalidOptions_ArgumentExceptionAndBackendDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 1);
        var setup = Options(time, null, backend);
        setup.Options.DrainTimeout = TimeSpan.FromHours(2);

        await FluentActions.Invoking(() => GpuClusteringManager.ReadOnceAsync(setup.Options, setup.Services)).Should().ThrowAsync<ArgumentException>().WithParameterName("options");
        backend.IsDisposed.Should().BeTrue();
    }

    [Fact]
    public async Task ReadOnceAsync_SameSeed_SameReadings()
    {
        static async Task<string> ReadAsync()
        {
            var time = new FakeTimeProvider(Start);
            var snapshot = await Options(time, null, Simulated(time, devices: 3, seed: 9)).ReadOnceAsync();
            return JsonSerializer.Serialize(snapshot.Devices.Select(d => new { d.Device.Uuid, d.Latest!.Value.UtilizationPercent, d.Latest.Value.MemoryUsedBytes }));
        }

        (await ReadAsync()).Should().Be(await ReadAsync());
    }
}
