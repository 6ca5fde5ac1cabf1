using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

public class DeviceWeightsTests
{
    private const long GiB = 1L << 30;

    private static readonly GpuDevice[] Devices =
    [
        new("GPU-a", 0, "big", 80 * GiB, GpuBackendKind.Nvml) { MultiprocessorCount = 132, MaxSmClockMHz = 1980 },
        new("GPU-b", 1, "small", 16 * GiB, GpuBackendKind.Nvml) { MultiprocessorCount = 40, MaxSmClockMHz = 1590 },
    ];

    [Fact]
    public void From_Uniform_AllOnes()
    {
        DeviceWeights.From(Devices, DeviceWeightSource.Uniform).Should().Equal(1, 1);
    }

    [Fact]
    public void From_TotalMemory_Bytes()
    {
        DeviceWeights.From(Devices, DeviceWeightSource.TotalMemory).Should().Equal(80.0 * GiB, 16.0 * GiB);
    }

    [Fact]
    public void From_Compute_MultiprocessorsTimesMaxClock()
    {
        DeviceWeights.From(Devices, DeviceWeightSource.Compute).Should().Equal(132.0 * 1980, 40.0 * 1590);
    }

    [Fact]
    public void From_FreeMemory_TotalMinusUsedOfEachSample()
    {
        GpuSample[] samples =
        [
            new() { MemoryUsedBytes = 60 * GiB, MemoryTotalBytes = 80 * GiB },
            new() { MemoryUsedBytes = 1 * GiB, MemoryTotalBytes = 16 * GiB },
        ];
        DeviceWeights.From(Devices, DeviceWeightSource.FreeMemory, samples).Should().Equal(20.0 * GiB, 15.0 * GiB);
    }

    [Fact]
    public void From_ComputeOfDeviceWithUnknownClock_ThrowsNamingTheDevice()
    {
        GpuDevice[] devices = [Devices[0], new("GPU-c", 1, "mystery", GiB, GpuBackendKind.Nvml) { MultiprocessorCount = 10 }];
        var act = () => DeviceWeights.From(devices, DeviceWeightSource.Compute);
        act.Should().Throw<ArgumentException>().WithMessage("*GPU-c*maximum SM clock*").Which.ParamName.Should().Be("devices");
    }

    [Fact]
    public void From_ComputeOfDeviceWithUnknownMultiprocessors_ThrowsNamingTheDevice()
    {
        GpuDevice[] devices = [new("GPU-d", 0, "mystery", GiB, GpuBackendKind.Nvml)];
        var act = () => DeviceWeights.From(devices, DeviceWeightSource.Compute);
        act.Should().Throw<ArgumentException>().WithMessage("*GPU-d*multiprocessor count*").Which.ParamName.Should().Be("devices");
    }

    [Fact]
    public void From_FreeMemoryWithoutReadings_ThrowsNamingSamples()
    {
        GpuSample[] samples = [new() { MemoryTotalBytes = 80 * GiB }, new() { MemoryUsedBytes = 0, MemoryTotalBytes = 16 * GiB }];
        var act = () => DeviceWeights.From(Devices, DeviceWeightSource.FreeMemory, samples);
        act.Should().Throw<ArgumentException>().WithMessage("*GPU-a*").Which.ParamName.Should().Be("samples");
    }

    [Fact]
    public void From_FreeMemoryUsedAboveTotal_ThrowsNamingSamples()
    {
        GpuSample[] samples = [new() { MemoryUsedBytes = 90 * GiB, MemoryTotalBytes = 80 * GiB }, new() { MemoryUsedBytes = 0, MemoryTotalBytes = 16 * GiB }];
        var act = () => DeviceWeights.From(Devices, DeviceWeightSource.FreeMemory, samples);
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("samples");
    }

    [Fact]
    public void From_BadArguments_ThrowNamingThem()
    {
        FluentActions.Invoking(() => DeviceWeights.From(null!, DeviceWeightSource.Uniform))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("devices");
        FluentActions.Invoking(() => DeviceWeights.From([], DeviceWeightSource.Uniform))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("devices");
        FluentActions.Invoking(() => DeviceWeights.From([Devices[0], null!], DeviceWeightSource.Uniform))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("devices");
        FluentActions.Invoking(() => DeviceWeights.From(Devices, (DeviceWeightSource)42))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("source");
        FluentActions.Invoking(() => DeviceWeights.From(Devices, DeviceWeightSource.FreeMemory))
            .Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("samples");
        FluentActions.Invoking(() => DeviceWeights.From(Devices, DeviceWeightSource.FreeMemory, [new GpuSample()]))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("samples");
    }

    [Fact]
    public async Task From_SimulatedHeterogeneousCluster_SplitsByMemoryAndByCompute()
    {
        await using var backend = new SimulatedGpuBackend(new SimulatedGpuBackendOptions { Profile = SimulatedProfileKind.Heterogeneous, DeviceCount = 4 });
        var devices = await backend.DiscoverAsync(CancellationToken.None);

        var byMemory = WorkloadDistributor.Plan(184, DeviceWeights.From(devices, DeviceWeightSource.TotalMemory));
        byMemory.Counts.Should().Equal(80, 40, 48, 16);

        var samples = new List<GpuSample>();
        foreach (var device in devices)
        {
            samples.Add(await backend.SampleAsync(device, CancellationToken.None));
        }

        var byFree = DeviceWeights.From(devices, DeviceWeightSource.FreeMemory, samples);
        byFree.Should().OnlyContain(w => w > 0);

        var byCompute = WorkloadDistributor.Plan(1000, DeviceWeights.From(devices, DeviceWeightSource.Compute));
        byCompute.Counts.Sum().Should().Be(1000);
        byCompute.Counts[2].Should().BeGreaterThan(byCompute.Counts[0], "the L40S has the most SMs x clock");
        byCompute.Counts[3].Should().BeLessThan(byCompute.Counts[1]);
    }
}
