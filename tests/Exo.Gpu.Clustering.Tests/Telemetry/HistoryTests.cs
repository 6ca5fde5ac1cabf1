using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class HistoryTests
{
    private static readonly string Uuid = Device(0).Uuid;

    [Fact]
    public async Task Record_BeyondCapacity_EvictsOldestFirst()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(capacity: 5));
        for (var i = 0; i < 12; i++)
        {
            collector.Record(Uuid, Sample(Start.AddSeconds(i), temperature: i));
        }

        collector.GetHistory(Uuid).Select(s => s.TemperatureC).Should().Equal(7, 8, 9, 10, 11);
    }

    [Fact]
    public async Task Record_CapacityOne_KeepsNewest()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(capacity: 1));
        collector.Record(Uuid, Sample(Start, temperature: 1));
        collector.Record(Uuid, Sample(Start.AddSeconds(1), temperature: 2));
        collector.GetHistory(Uuid).Select(s => s.TemperatureC).Should().Equal(2);
    }

    [Fact]
    public async Task Record_OlderThanMaxAge_EvictedRelativeToNewestReading()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(capacity: 100, maxAge: TimeSpan.FromSeconds(10)));
        for (var i = 0; i <= 30; i++)
        {
            collector.Record(Uuid, At(time, Sample(Start.AddSeconds(i), temperature: i)));
        }

        // Kept: recorded at or after 30 s - 10 s = 20 s.
        collector.GetHistory(Uuid).Select(s => s.TemperatureC).Should().Equal(Enumerable.Range(20, 11).Select(i => (double?)i));
    }

    [Fact]
    public async Task Queries_DeviceStoppedReporting_DoNotReturnReadingsOlderThanMaxAge()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(capacity: 100, maxAge: TimeSpan.FromSeconds(10)));
        for (var i = 0; i < 5; i++)
        {
            collector.Record(Uuid, At(time, Sample(Start.AddSeconds(i))));
        }

        time.SetUtcNow(Start.AddSeconds(12)); // now 12 s: only readings at 2 s and later are young enough
        collector.GetHistory(Uuid).Select(s => s.Timestamp).Should().Equal(Start.AddSeconds(2), Start.AddSeconds(3), Start.AddSeconds(4));
        Span<GpuSample> buffer = new GpuSample[10];
        collector.CopyHistory(Uuid, buffer).Should().Be(3);
        collector.Summarize(Uuid, TelemetryMetric.Temperature, TimeSpan.FromHours(1))!.Value.Count.Should().Be(3);
    }

    [Fact]
    public async Task CopyHistory_LargeBuffer_CopiesAllOldestFirst()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(capacity: 4));
        for (var i = 0; i < 6; i++)
        {
            collector.Record(Uuid, Sample(Start.AddSeconds(i), temperature: i));
        }

        var buffer = new GpuSample[10];
        var n = collector.CopyHistory(Uuid, buffer);
        n.Should().Be(4);
        buffer.Take(n).Select(s => s.TemperatureC).Should().Equal(2, 3, 4, 5);
        buffer.Skip(n).Should().OnlyContain(s => s == default);
    }

    [Fact]
    public async Task CopyHistory_SmallBuffer_CopiesNewestOnes()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(capacity: 8));
        for (var i = 0; i < 11; i++)
        {
            collector.Record(Uuid, Sample(Start.AddSeconds(i), temperature: i));
        }

        var buffer = new GpuSample[3];
        collector.CopyHistory(Uuid, buffer).Should().Be(3);
        buffer.Select(s => s.TemperatureC).Should().Equal(8, 9, 10);
    }

    [Fact]
    public async Task CopyHistory_Window_OnlyRecentReadings()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        for (var i = 0; i < 10; i++)
        {
            collector.Record(Uuid, At(time, Sample(Start.AddSeconds(i), temperature: i)));
        }

        var buffer = new GpuSample[10];
        var n = collector.CopyHistory(Uuid, buffer, TimeSpan.FromSeconds(3));
        buffer.Take(n).Select(s => s.TemperatureC).Should().Equal(6, 7, 8, 9);
        collector.GetHistory(Uuid, TimeSpan.FromSeconds(3)).Select(s => s.TemperatureC).Should().Equal(6, 7, 8, 9);
    }

    [Fact]
    public async Task GetHistory_IsACopy()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start, temperature: 1));
        var snapshot = collector.GetHistory(Uuid);
        collector.Record(Uuid, Sample(Start.AddSeconds(1), temperature: 2));
        snapshot.Should().HaveCount(1);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public async Task History_NonPositiveWindow_Throws(int seconds)
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var act = () => collector.GetHistory(Uuid, TimeSpan.FromSeconds(seconds));
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("window");
    }

    [Fact]
    public void Ring_RandomAppendsAndEvictions_MatchAQueue()
    {
        // Property test: the ring behaves exactly like a trimmed queue under any mix of appends and evictions, and
        // searches and evicts by received time only: the readings' own stamps are random, in no order.
        var random = new Random(1234);
        for (var trial = 0; trial < 500; trial++)
        {
            var capacity = random.Next(1, 20);
            var ring = new SampleRing(capacity);
            var model = new Queue<(GpuSample Sample, long Received)>();
            long t = 1;
            for (var step = 0; step < 200; step++)
            {
                if (random.Next(4) == 0)
                {
                    var cutoff = t - random.Next(0, 30);
                    ring.EvictOlderThan(cutoff);
                    while (model.Count > 0 && model.Peek().Received < cutoff)
                    {
                        model.Dequeue();
                    }
                }
                else
                {
                    t += random.Next(0, 3);
                    var s = new GpuSample { Timestamp = Start.AddSeconds(random.Next(-3600, 3600)), TemperatureC = step };
                    ring.Append(s, t);
                    model.Enqueue((s, t));
                    if (model.Count > capacity)
                    {
                        model.Dequeue();
                    }
                }

                var copy = new GpuSample[ring.Count];
                ring.CopyTo(0, copy);
                copy.Should().Equal(model.Select(m => m.Sample));
                Enumerable.Range(0, ring.Count).Select(ring.ReceivedAt).Should().Equal(model.Select(m => m.Received));
                if (ring.Count > 0)
                {
                    ring.NewestReceived.Should().Be(model.Last().Received);
                }

                var since = t - random.Next(0, 10);
                ring.FirstAtOrAfter(since).Should().Be(model.Count(m => m.Received < since));
            }
        }
    }
}
