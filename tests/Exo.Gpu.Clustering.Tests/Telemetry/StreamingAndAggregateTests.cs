using System.Threading.Channels;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class StreamingAndAggregateTests
{
    private static readonly string Uuid = Device(0).Uuid;

    private static async Task<List<T>> DrainAsync<T>(ChannelReader<T> reader)
    {
        var items = new List<T>();
        await foreach (var item in reader.ReadAllAsync(Guard()))
        {
            items.Add(item);
        }

        return items;
    }

    [Fact]
    public async Task Subscribe_SlowSubscriber_DropsOldest_AndNeverBlocksRecording()
    {
        var time = new FakeTimeProvider(Start);
        var collector = Collector(time);
        var slow = collector.Subscribe(capacity: 4);
        var fast = collector.Subscribe(capacity: 100);
        for (var i = 0; i < 10; i++)
        {
            collector.Record(Uuid, Sample(Start.AddSeconds(i), temperature: i)); // nobody reads yet: must not block
        }

        slow.Count.Should().Be(4, "the channel never grows past its capacity");
        await collector.DisposeAsync();

        (await DrainAsync(slow)).Select(s => s.Sample.TemperatureC).Should().Equal(6, 7, 8, 9);
        var all = await DrainAsync(fast);
        all.Select(s => s.Sample.TemperatureC).Should().Equal(Enumerable.Range(0, 10).Select(i => (double?)i));
        all.Should().OnlyContain(s => s.Device.Uuid == Uuid);
        slow.Completion.IsCompleted.Should().BeTrue();
    }

    [Fact]
    public async Task Subscribe_ReaderWaiting_ReceivesRecordedSample()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var reader = collector.Subscribe(capacity: 8);
        var next = reader.ReadAsync(Guard());
        next.IsCompleted.Should().BeFalse();
        collector.Record(Uuid, Sample(Start, temperature: 42));
        (await next).Sample.TemperatureC.Should().Be(42);
    }

    [Fact]
    public async Task Subscribe_Cancelled_CompletesAndStopsReceiving()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        using var cts = new CancellationTokenSource();
        var reader = collector.Subscribe(capacity: 8, cts.Token);
        collector.Record(Uuid, Sample(Start, temperature: 1));
        await cts.CancelAsync();
        collector.Record(Uuid, Sample(Start, temperature: 2));
        (await DrainAsync(reader)).Select(s => s.Sample.TemperatureC).Should().Equal(1);
    }

    [Fact]
    public async Task Subscribe_BadCapacityOrDisposed_Throws()
    {
        var time = new FakeTimeProvider(Start);
        var collector = Collector(time);
        FluentActions.Invoking(() => collector.Subscribe(0)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("capacity");
        FluentActions.Invoking(() => collector.SubscribeHealthChanges(-1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("capacity");
        await collector.DisposeAsync();
        FluentActions.Invoking(() => collector.Subscribe()).Should().Throw<ObjectDisposedException>();
        FluentActions.Invoking(() => collector.SubscribeHealthChanges()).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task HealthSubscription_SlowReader_DropsOldestChanges()
    {
        var time = new FakeTimeProvider(Start);
        var collector = Collector(time, options: Options(hold: TimeSpan.Zero));
        var reader = collector.SubscribeHealthChanges(capacity: 2);
        for (var i = 0; i < 10; i++)
        {
            collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: i % 2 == 0 ? 60 : 90));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        await collector.DisposeAsync();
        var changes = await DrainAsync(reader);
        changes.Should().HaveCount(2);
        changes[^1].Current.Should().Be(GpuHealth.Degraded);
    }

    [Fact]
    public async Task ClusterTelemetry_OnlyFreshReadingsCount()
    {
        var time = new FakeTimeProvider(Start.AddSeconds(-20));
        await using var collector = Collector(time, devices: 4);
        var uuids = collector.Devices.Select(d => d.Uuid).ToArray();
        collector.Record(uuids[1], Sample(Start.AddSeconds(-20), utilization: 99, temperature: 99, power: 999, memoryUsed: 70L << 30));
        time.Advance(TimeSpan.FromSeconds(20)); // device 1's reading is now stale
        collector.Record(uuids[0], Sample(Start, utilization: 10, temperature: 40, power: 100, memoryUsed: 10L << 30));
        collector.Record(uuids[2], new GpuSample { Timestamp = Start, UtilizationPercent = 30, MemoryUsedBytes = 20L << 30 }); // partial
        // uuids[3]: no reading at all

        var c = collector.GetClusterTelemetry();
        c.DeviceCount.Should().Be(4);
        c.FreshDeviceCount.Should().Be(2);
        c.TotalMemoryBytes.Should().Be(2 * TotalMemory);
        c.UsedMemoryBytes.Should().Be(30L << 30);
        c.FreeMemoryBytes.Should().Be((2 * TotalMemory) - (30L << 30));
        c.MeanUtilizationPercent.Should().Be(20);
        c.MeanTemperatureC.Should().Be(40);
        c.TotalPowerW.Should().Be(100);
        c.Timestamp.Should().Be(Start);

        collector.MarkLost(0, "gone");
        var after = collector.GetClusterTelemetry();
        after.FreshDeviceCount.Should().Be(1);
        after.MeanTemperatureC.Should().BeNull();
        after.TotalPowerW.Should().BeNull();
    }

    [Fact]
    public async Task GetStatuses_OnePerDeviceInSlotOrder()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, devices: 3);
        collector.Record(collector.Devices[1].Uuid, Sample(Start));
        var statuses = collector.GetStatuses();
        statuses.Select(s => s.Device).Should().Equal(collector.Devices);
        statuses.Select(s => s.Health).Should().Equal(GpuHealth.Unknown, GpuHealth.Healthy, GpuHealth.Unknown);
        statuses[1].Latest.Should().Be(Sample(Start));
        statuses[1].IsFresh.Should().BeTrue();
    }
}
