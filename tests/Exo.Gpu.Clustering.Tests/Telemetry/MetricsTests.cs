using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class MetricsTests
{
    [Fact]
    public async Task Instruments_OneMeasurementPerFreshDevice_TaggedWithUuid()
    {
        var time = new FakeTimeProvider(Start.AddSeconds(-30));
        await using var collector = Collector(time, devices: 3);
        var uuids = collector.Devices.Select(d => d.Uuid).ToArray();
        collector.Meter.Name.Should().Be("Exo.Gpu.Clustering");
        using var utilization = new MetricCollector<double>(collector.Meter, "hw.gpu.utilization");
        using var memory = new MetricCollector<long>(collector.Meter, "hw.gpu.memory.usage");
        using var limit = new MetricCollector<long>(collector.Meter, "hw.gpu.memory.limit");
        using var temperature = new MetricCollector<double>(collector.Meter, "hw.temperature");
        using var power = new MetricCollector<double>(collector.Meter, "hw.power");

        collector.Record(uuids[2], Sample(Start.AddSeconds(-30)));
        time.Advance(TimeSpan.FromSeconds(30)); // device 2's reading is now stale: it reports nothing
        collector.Record(uuids[0], Sample(Start, utilization: 25, temperature: 55.5, power: 310, memoryUsed: 3L << 30));
        collector.Record(uuids[1], Sample(Start, utilization: 80, temperature: 70, power: 650, memoryUsed: 60L << 30));

        utilization.RecordObservableInstruments();
        var u = utilization.GetMeasurementSnapshot();
        u.Should().HaveCount(2);
        u.Single(m => (string?)m.Tags["hw.id"] == uuids[0]).Value.Should().Be(0.25);
        u.Single(m => (string?)m.Tags["hw.id"] == uuids[1]).Value.Should().Be(0.80);
        utilization.Instrument!.Unit.Should().Be("1");

        memory.RecordObservableInstruments();
        memory.GetMeasurementSnapshot().Select(m => ((string?)m.Tags["hw.id"], m.Value)).Should().BeEquivalentTo(new[] { (uuids[0], 3L << 30), (uuids[1], 60L << 30) });
        memory.Instrument!.Unit.Should().Be("By");

        limit.RecordObservableInstruments();
        limit.GetMeasurementSnapshot().Should().OnlyContain(m => m.Value == TotalMemory).And.HaveCount(2);

        temperature.RecordObservableInstruments();
        var t = temperature.GetMeasurementSnapshot().Single(m => (string?)m.Tags["hw.id"] == uuids[0]);
        t.Value.Should().Be(55.5);
        t.Tags["hw.type"].Should().Be("gpu");
        temperature.Instrument!.Unit.Should().Be("Cel");

        power.RecordObservableInstruments();
        power.GetMeasurementSnapshot().Select(m => m.Value).Should().BeEquivalentTo(new[] { 310.0, 650.0 });
        power.Instrument!.Unit.Should().Be("W");
    }

    [Fact]
    public async Task Instruments_StaleOrLostDevices_ReportNothing()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, devices: 2);
        var uuids = collector.Devices.Select(d => d.Uuid).ToArray();
        using var temperature = new MetricCollector<double>(collector.Meter, "hw.temperature");
        collector.Record(uuids[0], Sample(Start));
        collector.Record(uuids[1], Sample(Start));
        collector.MarkLost(1, "gone");

        temperature.RecordObservableInstruments();
        temperature.GetMeasurementSnapshot().Should().ContainSingle().Which.Tags["hw.id"].Should().Be(uuids[0]);

        time.Advance(TimeSpan.FromSeconds(6));
        temperature.Clear();
        temperature.RecordObservableInstruments();
        temperature.GetMeasurementSnapshot().Should().BeEmpty();
    }

    [Fact]
    public async Task Instruments_ReadingWithoutValue_NoMeasurement()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        using var power = new MetricCollector<double>(collector.Meter, "hw.power");
        collector.Record(collector.Devices[0].Uuid, new GpuSample { Timestamp = Start, TemperatureC = 50 });
        power.RecordObservableInstruments();
        power.GetMeasurementSnapshot().Should().BeEmpty();
    }

    [Fact]
    public async Task Dispose_OwnedMeterDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var collector = Collector(time);
        using var power = new MetricCollector<double>(collector.Meter, "hw.power");
        await collector.DisposeAsync();
        power.RecordObservableInstruments();
        power.GetMeasurementSnapshot().Should().BeEmpty();
    }
}
