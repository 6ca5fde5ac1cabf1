namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// Statistics of one reading of one device over a time window. Percentiles use the nearest-rank definition: the
/// p-th percentile of n values is the value at 1-based rank ⌈p·n/100⌉ of the values sorted ascending (no interpolation,
/// so it is always a value that was read).
/// </summary>
/// <param name="Metric">The reading summarized.</param>
/// <param name="Count">How many readings in the window carried the value, 1 or more.</param>
/// <param name="Mean">The arithmetic mean.</param>
/// <param name="Min">The smallest value.</param>
/// <param name="Max">The largest value.</param>
/// <param name="P50">The median (nearest rank).</param>
/// <param name="P95">The 95th percentile (nearest rank).</param>
/// <param name="Last">The newest value.</param>
/// <param name="From">When the oldest reading counted was recorded: the wall clock at the query less that reading's age on
/// the collector's monotonic clock (so <paramref name="From"/> is never after <paramref name="To"/>, whatever the wall clock did).</param>
/// <param name="To">When the newest reading counted was recorded, measured the same way.</param>
public readonly record struct TelemetrySummary(
    TelemetryMetric Metric,
    int Count,
    double Mean,
    double Min,
    double Max,
    double P50,
    double P95,
    double Last,
    DateTimeOffset From,
    DateTimeOffset To);
