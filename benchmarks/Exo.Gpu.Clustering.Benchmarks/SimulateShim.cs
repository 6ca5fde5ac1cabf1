using Exo.Gpu.Clustering.Cli.Simulation;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>Runs the CLI's simulation in-process with its defaults (seed 1, heterogeneous profile, default load).</summary>
internal static class SimulateShim
{
    public static object Run(int devices, int jobs) =>
        SimulationRun.RunAsync(new SimulationSettings(devices, jobs, 1, "heterogeneous"), CancellationToken.None).GetAwaiter().GetResult();
}
