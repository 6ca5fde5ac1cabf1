using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using static Exo.Gpu.Clustering.Hosting.Tests.HealthChecks.HealthCheckTestKit;

namespace Exo.Gpu.Clustering.Hosting.Tests.Metrics;

/// <summary>
/// The OpenTelemetry SDK listens by meter name to every meter of the process: these tests run alone, so no other
/// test's cluster adds to what they count.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OpenTelemetrySdk
{
    public const string Name = "OpenTelemetry SDK";
}

[Collection(OpenTelemetrySdk.Name)]
public class GpuClusteringInstrumentationTests
{
    [Fact]
    public async Task AddGpuClusteringInstrumentation_ExportsDeviceAndLeaseInstruments()
    {
        var time = new FakeTimeProvider(Start);
        var exported = new List<Metric>();
        using var provider = Sdk.CreateMeterProviderBuilder().AddGpuClusteringInstrumentation().AddInMemoryExporter(exported).Build();
        await using var manager = await StartedAsync(time, devices: 2);
        var uuids = manager.Devices.Select(d => d.Uuid).ToHashSet();

        var held = await manager.AcquireAsync(new GpuRequest { MemoryBytes = 60L << 30, IncludeIndexes = [0] }).AsTask().WaitAsync(Guard);
        var waiting = manager.AcquireAsync(new GpuRequest { MemoryBytes = 60L << 30, IncludeIndexes = [0] }).AsTask();
        time.Advance(TimeSpan.FromSeconds(3));
        await held.DisposeAsync();
        var second = await waiting.WaitAsync(Guard);
        provider.ForceFlush().Should().BeTrue();

        var byName = exported.GroupBy(m => m.Name).ToDictionary(g => g.Key, g => g.Last());
        byName.Keys.Should().Contain(["hw.gpu.utilization", "hw.gpu.memory.usage", "hw.gpu.memory.limit", "hw.temperature", "hw.power", "hw.status", "hw.errors",
            "exo.gpu.lease.granted", "exo.gpu.lease.active", "exo.gpu.lease.reserved", "exo.gpu.lease.queue.depth", "exo.gpu.lease.wait.duration"]);
        Points(byName["hw.gpu.utilization"]).Select(p => Tag(p, "hw.id")).Should().BeEquivalentTo(uuids);
        Points(byName["hw.status"]).Where(p => Tag(p, "hw.state") == "ok").Select(p => (Tag(p, "hw.id"), p.GetSumLong()))
            .Should().BeEquivalentTo(uuids.Select(u => ((string?)u, 1L)));
        Points(byName["exo.gpu.lease.granted"]).Sum(p => p.GetSumLong()).Should().Be(2);
        Points(byName["exo.gpu.lease.reserved"]).Single(p => Tag(p, "hw.id") == manager.Devices[0].Uuid).GetSumLong().Should().Be(60L << 30);

        // The wait histogram is exported with the advised second-scale boundaries, and the 3 s wait lands in (2.5, 5].
        var wait = Points(byName["exo.gpu.lease.wait.duration"]).Single();
        var buckets = new List<(double Bound, long Count)>();
        foreach (var bucket in wait.GetHistogramBuckets())
        {
            buckets.Add((bucket.ExplicitBound, bucket.BucketCount));
        }

        buckets.Select(b => b.Bound).SkipLast(1).Should().Equal(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300);
        buckets.Single(b => b.Bound == 0.005).Count.Should().Be(1, "the first lease was granted at once");
        buckets.Single(b => b.Bound == 5).Count.Should().Be(1, "the second waited 3 s");
        wait.GetHistogramCount().Should().Be(2);
        await second.DisposeAsync();
    }

    [Fact]
    public void AddGpuClusteringInstrumentation_NullBuilder_Throws() =>
        FluentActions.Invoking(() => ((MeterProviderBuilder)null!).AddGpuClusteringInstrumentation())
            .Should().Throw<ArgumentNullException>().WithParameterName("builder");

    private static List<MetricPoint> Points(Metric metric)
    {
        var points = new List<MetricPoint>();
        foreach (ref readonly var point in metric.GetMetricPoints())
        {
            points.Add(point);
        }

        return points;
    }

    private static string? Tag(MetricPoint point, string key)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == key)
            {
                return tag.Value as string;
            }
        }

        return null;
    }
}
