using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Diagnostics;

/// <summary><c>hw.status</c>, <c>hw.errors</c> and the attributes the OpenTelemetry hardware conventions ask for.</summary>
public class HardwareInstrumentsTests
{
    [Fact]
    public async Task HwStatus_EveryDevice_OneForItsCurrentStateZeroForTheOthers()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, devices: 5);
        var uuids = collector.Devices.Select(d => d.Uuid).ToArray();
        collector.Record(uuids[0], Sample(Start));
        collector.Record(uuids[1], Sample(Start, temperature: 88));
        collector.Record(uuids[2], Sample(Start, eccUncorrected: 2));
        collector.Record(uuids[3], Sample(Start));
        collector.MarkLost(3, "fell off the bus");
        using var status = new MetricCollector<long>(collector.Meter, "hw.status");

        status.RecordObservableInstruments();

        collector.GetStatuses().Select(s => s.Health).Should().Equal(GpuHealth.Healthy, GpuHealth.Degraded, GpuHealth.Unhealthy, GpuHealth.Lost, GpuHealth.Unknown);
        var m = status.GetMeasurementSnapshot();
        m.Should().HaveCount(15).And.OnlyContain(x => (string?)x.Tags["hw.type"] == "gpu");
        States(m, uuids[0]).Should().Equal(("ok", 1L), ("degraded", 0L), ("failed", 0L));
        States(m, uuids[1]).Should().Equal(("ok", 0L), ("degraded", 1L), ("failed", 0L));
        States(m, uuids[2]).Should().Equal(("ok", 0L), ("degraded", 0L), ("failed", 1L));
        States(m, uuids[3]).Should().Equal(("ok", 0L), ("degraded", 0L), ("failed", 1L));
        States(m, uuids[4]).Should().Equal(("ok", 0L), ("degraded", 0L), ("failed", 0L));
        status.Instrument!.Unit.Should().Be("1");
    }

    [Fact]
    public async Task HwStatus_StaleReading_NoStateSet()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(collector.Devices[0].Uuid, Sample(Start));
        using var status = new MetricCollector<long>(collector.Meter, "hw.status");
        time.Advance(TimeSpan.FromSeconds(6));

        status.RecordObservableInstruments();

        status.GetMeasurementSnapshot().Should().HaveCount(3).And.OnlyContain(m => m.Value == 0);
    }

    [Fact]
    public async Task HwErrors_FreshReadingsWithEcc_CorrectedAndUncorrectedTaggedGpu()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, devices: 2);
        var uuids = collector.Devices.Select(d => d.Uuid).ToArray();
        collector.Record(uuids[0], Sample(Start) with { EccCorrectedErrors = 7, EccUncorrectedErrors = 0 });
        collector.Record(uuids[1], new GpuSample { Timestamp = Start, TemperatureC = 50 }); // no ECC (a consumer GPU)
        using var errors = new MetricCollector<long>(collector.Meter, "hw.errors");

        errors.RecordObservableInstruments();

        var m = errors.GetMeasurementSnapshot();
        m.Select(x => ((string?)x.Tags["hw.id"], (string?)x.Tags["error.type"], x.Value))
            .Should().BeEquivalentTo(new[] { (uuids[0], "corrected", 7L), (uuids[0], "uncorrected", 0L) });
        m.Should().OnlyContain(x => (string?)x.Tags["hw.type"] == "gpu");
        errors.Instrument!.Unit.Should().Be("{error}");
    }

    [Fact]
    public async Task GpuMetrics_CarryIdNameVendorModelAndDriverWhereKnown()
    {
        var time = new FakeTimeProvider(Start);
        var device = new GpuDevice("GPU-aaaa", 0, "NVIDIA H100 80GB HBM3", TotalMemory, GpuBackendKind.Nvml) { DriverVersion = "570.86.15" };
        var other = new GpuDevice("GPU-bbbb", 1, "Test GPU", TotalMemory, GpuBackendKind.Simulated) { Vendor = "Acme" };
        await using var collector = new TelemetryCollector([device, other], Options(), time);
        collector.Record(device.Uuid, Sample(Start));
        collector.Record(other.Uuid, Sample(Start));
        using var utilization = new MetricCollector<double>(collector.Meter, "hw.gpu.utilization");
        using var power = new MetricCollector<double>(collector.Meter, "hw.power");

        utilization.RecordObservableInstruments();
        power.RecordObservableInstruments();

        var tags = utilization.GetMeasurementSnapshot().Single(m => (string?)m.Tags["hw.id"] == device.Uuid).Tags;
        tags.Should().BeEquivalentTo(new Dictionary<string, object?>
        {
            ["hw.id"] = "GPU-aaaa",
            ["hw.name"] = "NVIDIA H100 80GB HBM3",
            ["hw.vendor"] = "NVIDIA",
            ["hw.model"] = "NVIDIA H100 80GB HBM3",
            ["hw.driver_version"] = "570.86.15",
        });
        var otherTags = utilization.GetMeasurementSnapshot().Single(m => (string?)m.Tags["hw.id"] == other.Uuid).Tags;
        otherTags.Should().NotContainKey("hw.driver_version").And.Contain("hw.vendor", "Acme");
        power.GetMeasurementSnapshot().Should().HaveCount(2).And.OnlyContain(m => (string?)m.Tags["hw.type"] == "gpu");
    }

    private static (string?, long)[] States(IReadOnlyList<CollectedMeasurement<long>> measurements, string uuid) =>
        [.. measurements.Where(m => (string?)m.Tags["hw.id"] == uuid).Select(m => ((string?)m.Tags["hw.state"], m.Value))];
}
