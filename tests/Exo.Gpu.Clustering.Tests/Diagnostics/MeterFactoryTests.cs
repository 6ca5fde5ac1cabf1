using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Diagnostics;

/// <summary>Every instrument comes from the <see cref="System.Diagnostics.Metrics.IMeterFactory"/> given to the cluster.</summary>
public class MeterFactoryTests
{
    [Fact]
    public void MeterName_IsPublicOnTheManager() => GpuClusteringManager.MeterName.Should().Be("Exo.Gpu.Clustering");

    [Fact]
    public async Task Manager_WithMeterFactory_ScopedCollectorSeesEveryLeaseGrant()
    {
        var time = new FakeTimeProvider(Start);
        using var factory = new TestMeterFactory();
        using var granted = new MetricCollector<long>(factory, GpuClusteringManager.MeterName, "exo.gpu.lease.granted");
        using var released = new MetricCollector<long>(factory, GpuClusteringManager.MeterName, "exo.gpu.lease.released");
        using var utilization = new MetricCollector<double>(factory, GpuClusteringManager.MeterName, "hw.gpu.utilization");
        var setup = Options(time, null, Simulated(time, 4));
        setup.Services.MeterFactory = factory;
        var manager = await setup.StartAsync().WaitAsync(Guard);
        await using var stop = Stop(manager, time);

        manager.TryAcquire(new GpuRequest { MemoryBytes = GiB }, out var first).Should().BeTrue();
        var second = await manager.AcquireAsync(new GpuRequest { MemoryBytes = GiB }).AsTask().WaitAsync(Guard);
        var third = await manager.AcquireAsync(new GpuRequest { MemoryBytes = 2 * GiB }).AsTask().WaitAsync(Guard);
        await first.DisposeAsync();
        await second.DisposeAsync();
        await third.DisposeAsync();

        granted.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(3);
        released.GetMeasurementSnapshot().Sum(m => m.Value).Should().Be(3);
        utilization.RecordObservableInstruments();
        utilization.GetMeasurementSnapshot().Should().HaveCount(4);
        factory.Created.Should().Be(1, "the collector and the selector share one meter");
    }

    [Fact]
    public async Task Manager_WithMeterFactory_ReservedBytesAndActiveLeasesPerDevice()
    {
        var time = new FakeTimeProvider(Start);
        using var factory = new TestMeterFactory();
        using var reserved = new MetricCollector<long>(factory, GpuClusteringManager.MeterName, "exo.gpu.lease.reserved");
        using var active = new MetricCollector<long>(factory, GpuClusteringManager.MeterName, "exo.gpu.lease.active");
        var setup = Options(time, null, Simulated(time, 3));
        setup.Services.MeterFactory = factory;
        var manager = await setup.StartAsync().WaitAsync(Guard);
        await using var stop = Stop(manager, time);
        var uuids = manager.Devices.Select(d => d.Uuid).ToArray();

        var lease = await manager.AcquireAsync(new GpuRequest { MemoryBytes = 12 * GiB, IncludeIndexes = [1] }).AsTask().WaitAsync(Guard);
        reserved.RecordObservableInstruments();
        active.RecordObservableInstruments();
        reserved.GetMeasurementSnapshot().Select(m => ((string?)m.Tags["hw.id"], m.Value))
            .Should().BeEquivalentTo(new[] { (uuids[0], 0L), (uuids[1], 12 * GiB), (uuids[2], 0L) });
        active.GetMeasurementSnapshot().Select(m => ((string?)m.Tags["hw.id"], m.Value))
            .Should().BeEquivalentTo(new[] { (uuids[0], 0L), (uuids[1], 1L), (uuids[2], 0L) });
        reserved.Instrument!.Unit.Should().Be("By");

        await lease.DisposeAsync();
        reserved.Clear();
        reserved.RecordObservableInstruments();
        reserved.GetMeasurementSnapshot().Should().HaveCount(3).And.OnlyContain(m => m.Value == 0);
    }

    [Fact]
    public async Task DisposedCollectorAndSelector_OnASharedMeter_ReportNothing()
    {
        var time = new FakeTimeProvider(Start);
        using var factory = new TestMeterFactory();
        var old = new TelemetryCollector(Telemetry.TelemetryTestKit.Devices(2), timeProvider: time, meterFactory: factory);
        var oldSelector = new DeviceSelector(old);
        await using var current = new TelemetryCollector([Telemetry.TelemetryTestKit.Device(7)], timeProvider: time, meterFactory: factory);
        await using var currentSelector = new DeviceSelector(current);
        foreach (var device in old.Devices)
        {
            old.Record(device.Uuid, Telemetry.TelemetryTestKit.Sample(Start));
        }

        current.Record(current.Devices[0].Uuid, Telemetry.TelemetryTestKit.Sample(Start));
        await oldSelector.DisposeAsync();
        await old.DisposeAsync();

        // The factory hands both collectors one meter, which keeps the old instruments: every one of them is listened to.
        var seen = new List<(string Instrument, string? Id)>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name is "hw.temperature" or "hw.status" or "exo.gpu.lease.reserved")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<double>((i, _, tags, _) => seen.Add((i.Name, Id(tags))));
            listener.SetMeasurementEventCallback<long>((i, _, tags, _) => seen.Add((i.Name, Id(tags))));
            listener.Start();
            listener.RecordObservableInstruments();
        }

        var only = current.Devices[0].Uuid;
        seen.Should().OnlyContain(s => s.Id == only);
        seen.Select(s => s.Instrument).Should().BeEquivalentTo(["hw.temperature", "hw.status", "hw.status", "hw.status", "exo.gpu.lease.reserved"]);
    }

    private static string? Id(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == "hw.id")
            {
                return (string?)tag.Value;
            }
        }

        return null;
    }
}
