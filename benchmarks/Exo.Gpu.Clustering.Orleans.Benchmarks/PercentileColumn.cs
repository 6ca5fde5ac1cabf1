using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Perfolizer.Horology;
using Perfolizer.Metrology;
using Pragmastat.Metrology;

namespace Exo.Gpu.Clustering.Orleans.Benchmarks;

/// <summary>
/// A percentile of the measurements that BenchmarkDotNet's own columns lack (it has P0, P25, P50, P67, P80, P85, P90,
/// P95 and P100): <c>Statistics.Percentiles.Percentile(n)</c>, in the table's time unit. With one operation per
/// measurement (<see cref="PerOperationConfig"/>), it is a per-operation latency percentile.
/// </summary>
internal sealed class PercentileColumn(int percentile) : IColumn
{
    public string Id => $"{nameof(PercentileColumn)}.P{percentile}";

    public string ColumnName => $"P{percentile}";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Statistics;

    /// <summary>After BenchmarkDotNet's percentile columns (Main 0, Quartile 1, Percentiles 2).</summary>
    public int PriorityInCategory => 3;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Time;

    public string Legend => $"Percentile {percentile}";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null)
        {
            return "NA";
        }

        var nanoseconds = statistics.Percentiles.Percentile(percentile);
        return double.IsNaN(nanoseconds)
            ? "NA"
            : PerfolizerMeasurementFormatter.Instance.Format(
                TimeInterval.FromNanoseconds(nanoseconds).ToMeasurement(style.TimeUnit),
                "N2",
                style.CultureInfo,
                new UnitPresentation(style.PrintUnitsInContent, minUnitWidth: 0, gap: true));
    }

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public override string ToString() => ColumnName;
}
