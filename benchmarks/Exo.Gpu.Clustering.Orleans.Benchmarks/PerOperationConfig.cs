using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using Perfolizer.Mathematics.OutlierDetection;

namespace Exo.Gpu.Clustering.Orleans.Benchmarks;

/// <summary>
/// One operation per measurement, so the percentiles are per-operation latencies (a default iteration is the mean of
/// many invocations, and percentiles of means are not latencies): <c>InvocationCount = 1</c>, <c>UnrollFactor = 1</c>,
/// <see cref="Iterations"/> measured after <see cref="Warmups"/> warm-ups, one launch. Every measurement is kept
/// (no outlier removal: the tail is the point), the GC is not forced between operations (the collections the cluster's
/// own allocations cause land in the percentiles, as they would in a service), and no overhead is subtracted (an
/// empty call's few nanoseconds, measured one at a time, would add noise, not accuracy). Columns: P50, P95 and P99 (the median is P50, so it is hidden).
/// </summary>
internal sealed class PerOperationConfig : ManualConfig
{
    /// <summary>Measured operations (invocations) per benchmark: P99 is then about the 5th slowest.</summary>
    public const int Iterations = 500;

    /// <summary>Warm-up operations per benchmark (the JIT, the activations, the connections).</summary>
    public const int Warmups = 50;

    public PerOperationConfig()
    {
        AddJob(Job.Default
            .WithId("PerOperation")
            .WithLaunchCount(1)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithWarmupCount(Warmups)
            .WithIterationCount(Iterations)
            .WithOutlierMode(OutlierMode.DontRemove)
            .WithGcForce(false)
            .WithEvaluateOverhead(false));
        AddColumn(StatisticColumn.P50, StatisticColumn.P95, new PercentileColumn(99));
        HideColumns(Column.Median); // the same figure as P50
    }
}
