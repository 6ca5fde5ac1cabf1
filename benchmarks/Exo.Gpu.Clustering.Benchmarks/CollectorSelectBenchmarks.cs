using BenchmarkDotNet.Attributes;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// Selection as users get it: <see cref="DeviceSelector.Select"/> through a real <see cref="TelemetryCollector"/> on
/// <see cref="TimeProvider.System"/>, against a hand-written scan of the same states (clock read once, every device's
/// state read, the same constraints: 20 GiB free, utilization &lt;= 85 %, temperature &lt;= 60 °C, most free memory wins).
/// </summary>
[MemoryDiagnoser]
public class CollectorSelectBenchmarks
{
    private const long Need = 20L << 30;

    private TelemetryCollector _collector = null!;
    private DeviceSelector _selector = null!;
    private GpuRequest _mostFree = null!;
    private GpuRequest _best = null!;

    [Params(8, 64, 512, 4096)]
    public int Devices { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _collector = CollectorFixture.Create(Devices, TimeProvider.System);
        _selector = new DeviceSelector(_collector, new DeviceSelectorOptions { Seed = 1 });
        _mostFree = Request(GpuSelectionStrategy.MostFreeMemory);
        _best = Request(GpuSelectionStrategy.BestScore);
        if (_selector.Select(_mostFree).Index != HandWrittenScan())
        {
            throw new InvalidOperationException("The selector and the hand-written scan disagree.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _selector.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _collector.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public int HandWrittenScan()
    {
        var now = CollectorStates.Now(_collector);
        var best = -1;
        var bestFree = -1L;
        for (var i = 0; i < Devices; i++)
        {
            var state = CollectorStates.Get(_collector, i, now);
            if (state.Health != GpuHealth.Healthy || !state.HasFreshSample)
            {
                continue;
            }

            var sample = state.Sample;
            var free = sample.MemoryFreeBytes ?? 0;
            if (free >= Need && sample.UtilizationPercent <= 85 && sample.TemperatureC <= 60 && free > bestFree)
            {
                best = i;
                bestFree = free;
            }
        }

        return best;
    }

    [Benchmark]
    public GpuDevice SelectMostFree() => _selector.Select(_mostFree);

    [Benchmark]
    public GpuDevice SelectBestScore() => _selector.Select(_best);

    private static GpuRequest Request(GpuSelectionStrategy strategy) => new()
    {
        Strategy = strategy,
        MemoryBytes = Need,
        MaxUtilizationPercent = 85,
        MaxTemperatureC = 60,
    };
}
