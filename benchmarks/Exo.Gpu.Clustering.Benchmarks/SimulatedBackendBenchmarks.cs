using BenchmarkDotNet.Attributes;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// One reading of one simulated device: the cost the poller pays per device per tick on the simulated cluster,
/// against the bare cost of building a sample with the same values.
/// </summary>
[MemoryDiagnoser]
public class SimulatedBackendBenchmarks
{
    private SimulatedGpuBackend _backend = null!;
    private GpuDevice _device = null!;

    [GlobalSetup]
    public void Setup()
    {
        _backend = new SimulatedGpuBackend(new SimulatedGpuBackendOptions { Seed = 1 });
        _device = _backend.AllDevices[0];
    }

    [GlobalCleanup]
    public void Cleanup() => _backend.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true)]
    public GpuSample BuildSample() => new()
    {
        Timestamp = DateTimeOffset.UtcNow,
        MemoryUsedBytes = 1L << 30,
        MemoryTotalBytes = 80L << 30,
        UtilizationPercent = 42,
        TemperatureC = 55,
        PowerW = 300,
        PowerLimitW = 700,
    };

    [Benchmark]
    public async ValueTask<GpuSample> SampleOneDevice() => await _backend.SampleAsync(_device, CancellationToken.None);
}
