using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class SummaryTests
{
    private static readonly string Uuid = Device(0).Uuid;

    [Fact]
    public async Task Summarize_OneToTwenty_HandComputed()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);

        // Recorded out of value order so the percentiles cannot come from position.
        int[] values = [7, 20, 1, 15, 3, 12, 18, 5, 9, 14, 2, 19, 11, 6, 16, 4, 13, 8, 17, 10];
        for (var i = 0; i < values.Length; i++)
        {
            collector.Record(Uuid, At(time, Sample(Start.AddSeconds(i), temperature: values[i])));
        }

        var s = collector.Summarize(Uuid, TelemetryMetric.Temperature, TimeSpan.FromMinutes(1))!.Value;

        s.Metric.Should().Be(TelemetryMetric.Temperature);
        s.Count.Should().Be(20);
        s.Mean.Should().Be(10.5);        // 210 / 20
        s.Min.Should().Be(1);
        s.Max.Should().Be(20);
        s.P50.Should().Be(10);           // rank ceil(0.50 * 20) = 10
        s.P95.Should().Be(19);           // rank ceil(0.95 * 20) = 19
        s.Last.Should().Be(10);          // the newest reading
        s.From.Should().Be(Start);
        s.To.Should().Be(Start.AddSeconds(19));
    }

    [Fact]
    public async Task Summarize_NearestRankTextbookSet_HandComputed()
    {
        // The nearest-rank textbook set {15, 20, 35, 40, 50}: p50 = rank ceil(2.5) = 3 -> 35; p95 = rank ceil(4.75) = 5 -> 50.
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        double[] power = [50, 15, 40, 20, 35];
        for (var i = 0; i < power.Length; i++)
        {
            collector.Record(Uuid, At(time, Sample(Start.AddSeconds(i), power: power[i])));
        }

        var s = collector.Summarize(Uuid, TelemetryMetric.Power, TimeSpan.FromMinutes(1))!.Value;
        s.Should().Be(new TelemetrySummary(TelemetryMetric.Power, 5, 32, 15, 50, 35, 50, 35, Start, Start.AddSeconds(4)));
    }

    [Fact]
    public async Task Summarize_Window_OnlyCountsRecentReadings()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        for (var i = 0; i < 60; i++)
        {
            collector.Record(Uuid, At(time, Sample(Start.AddSeconds(i), utilization: i < 50 ? 0 : 100)));
        }

        var s = collector.Summarize(Uuid, TelemetryMetric.Utilization, TimeSpan.FromSeconds(9))!.Value;
        s.Count.Should().Be(10); // stamped 50..59 s
        s.Mean.Should().Be(100);
        s.Min.Should().Be(100);
        s.From.Should().Be(Start.AddSeconds(50));
    }

    [Fact]
    public async Task Summarize_MemoryUsed_InBytes()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start, memoryUsed: 1L << 30));
        collector.Record(Uuid, Sample(Start.AddSeconds(1), memoryUsed: 3L << 30));
        var s = collector.Summarize(Uuid, TelemetryMetric.MemoryUsed, TimeSpan.FromMinutes(1))!.Value;
        s.Mean.Should().Be(2L << 30);
        s.Max.Should().Be(3L << 30);
        s.P50.Should().Be(1L << 30);
    }

    [Fact]
    public async Task Summarize_ReadingsWithoutTheValue_Skipped()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, At(time, new GpuSample { Timestamp = Start, TemperatureC = 40 }));
        collector.Record(Uuid, At(time, new GpuSample { Timestamp = Start.AddSeconds(1) }));
        collector.Record(Uuid, At(time, new GpuSample { Timestamp = Start.AddSeconds(2), TemperatureC = 60 }));
        collector.Record(Uuid, At(time, new GpuSample { Timestamp = Start.AddSeconds(3) }));
        var s = collector.Summarize(Uuid, TelemetryMetric.Temperature, TimeSpan.FromMinutes(1))!.Value;
        s.Count.Should().Be(2);
        s.Mean.Should().Be(50);
        s.Last.Should().Be(60);
        s.To.Should().Be(Start.AddSeconds(2));
        collector.Summarize(Uuid, TelemetryMetric.Power, TimeSpan.FromMinutes(1)).Should().BeNull();
    }

    [Fact]
    public async Task Summarize_NoReadings_Null()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Summarize(Uuid, TelemetryMetric.Utilization, TimeSpan.FromMinutes(1)).Should().BeNull();
    }

    [Fact]
    public async Task Summarize_BadArguments_Throw()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        FluentActions.Invoking(() => collector.Summarize(Uuid, (TelemetryMetric)42, TimeSpan.FromSeconds(1)))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("metric");
        FluentActions.Invoking(() => collector.Summarize(Uuid, TelemetryMetric.Power, TimeSpan.Zero))
            .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("window");
        FluentActions.Invoking(() => collector.Summarize("GPU-none", TelemetryMetric.Power, TimeSpan.FromSeconds(1)))
            .Should().Throw<ArgumentException>().WithParameterName("uuid");
    }

    [Fact]
    public async Task Summarize_LargeCapacity_UsesRentedBufferCorrectly()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(capacity: 5000));
        for (var i = 0; i < 5000; i++)
        {
            collector.Record(Uuid, Sample(Start.AddTicks(i), utilization: i % 100));
        }

        var s = collector.Summarize(Uuid, TelemetryMetric.Utilization, TimeSpan.FromMinutes(1))!.Value;
        s.Count.Should().Be(5000);
        s.Mean.Should().Be(49.5);
        s.P95.Should().Be(94); // rank 4750 of 50 copies of each of 0..99 -> value 94
        s.P50.Should().Be(49); // rank 2500 -> value 49
    }

    [Fact]
    public void Summarize_RandomSets_MatchSortedReference()
    {
        // Property test of the selection: thousands of random sets (with many duplicates and sorted runs) against a full sort.
        var random = new Random(20260101);
        for (var trial = 0; trial < 5000; trial++)
        {
            var n = random.Next(1, 400);
            var values = new double[n];
            var shape = random.Next(6);
            for (var i = 0; i < n; i++)
            {
                values[i] = shape switch
                {
                    0 => random.NextDouble() * 100,
                    1 => random.Next(0, 5),
                    2 => i,
                    3 => n - i + random.Next(0, 3),
                    4 => 100, // pinned: every value equal
                    _ => random.Next(10) == 0 ? random.NextDouble() * 100 : 700, // mostly at a power limit
                };
            }

            var sorted = values.Order().ToArray();
            var expectedMean = values.Average();
            var copy = (double[])values.Clone();
            var s = SummaryMath.Summarize(TelemetryMetric.Utilization, copy, 1, 2);

            s.Count.Should().Be(n);
            s.Min.Should().Be(sorted[0]);
            s.Max.Should().Be(sorted[^1]);
            s.Last.Should().Be(values[^1]);
            s.Mean.Should().BeApproximately(expectedMean, 1e-9 * Math.Max(1, Math.Abs(expectedMean)));
            s.P50.Should().Be(sorted[(int)Math.Ceiling(0.50m * n) - 1], $"trial {trial}, n {n}");
            s.P95.Should().Be(sorted[(int)Math.Ceiling(0.95m * n) - 1], $"trial {trial}, n {n}");
        }
    }

    [Fact]
    public void SelectTwo_RandomIndexPairs_MatchSortedReference()
    {
        var random = new Random(7);
        for (var trial = 0; trial < 3000; trial++)
        {
            var n = random.Next(1, 300);
            var values = Enumerable.Range(0, n).Select(_ => (double)random.Next(0, random.Next(1, 50))).ToArray();
            var sorted = values.Order().ToArray();
            var a = random.Next(n);
            var b = random.Next(n);
            var (kLow, kHigh) = (Math.Min(a, b), Math.Max(a, b));
            SummaryMath.SelectTwo(values, kLow, kHigh).Should().Be((sorted[kLow], sorted[kHigh]), $"trial {trial}");
        }
    }

    [Fact]
    public void Select_AllEqualLargeSet_Correct()
    {
        // Quadratic behaviour on equal values would take seconds here; with the equal-value gathering it is instant.
        var values = Enumerable.Repeat(42.0, 200_000).ToArray();
        values[^1] = 43;
        SummaryMath.Select(values, SummaryMath.NearestRankIndex(95, values.Length)).Should().Be(42);
        SummaryMath.Select(values, values.Length - 1).Should().Be(43);
    }

    [Theory]
    [InlineData(95, 1, 0)]
    [InlineData(95, 20, 18)]
    [InlineData(95, 21, 19)]
    [InlineData(50, 1, 0)]
    [InlineData(50, 2, 0)]
    [InlineData(50, 3, 1)]
    [InlineData(95, 100, 94)]
    [InlineData(95, 1024, 972)]
    public void NearestRankIndex_KnownCounts(int percent, int count, int expected) =>
        SummaryMath.NearestRankIndex(percent, count).Should().Be(expected);
}
