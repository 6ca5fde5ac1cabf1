using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// <c>exo-gpu simulate</c> end to end (the whole library on the simulated cluster, in simulated time, seed 1), one run
/// per invocation: 8 devices x 2,000 / 20,000 jobs, 1,024 devices x 100,000 jobs, and 8 devices x 5,000 / 50,000 jobs
/// for the marginal cost per job ((t50k − t5k) / 45,000 against t5k / 5,000).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3, invocationCount: 1)]
public class SimulateBenchmarks
{
    [Benchmark]
    public object Devices8Jobs2000() => SimulateShim.Run(8, 2_000);

    [Benchmark]
    public object Devices8Jobs5000() => SimulateShim.Run(8, 5_000);

    [Benchmark]
    public object Devices8Jobs20000() => SimulateShim.Run(8, 20_000);

    [Benchmark]
    public object Devices8Jobs50000() => SimulateShim.Run(8, 50_000);

    [Benchmark]
    public object Devices1024Jobs100000() => SimulateShim.Run(1_024, 100_000);
}
