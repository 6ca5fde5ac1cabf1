using System.Diagnostics.Metrics;
using System.Reflection;
using Exo.Gpu.Clustering.Diagnostics;
using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Diagnostics;

public class GpuInstrumentsTests
{
    /// <summary>What listeners and dashboards rely on, byte for byte.</summary>
    public static TheoryData<string, string, string> Published => new()
    {
        { "exo.gpu.lease.granted", "{lease}", "Leases granted." },
        { "exo.gpu.lease.released", "{lease}", "Leases released by their holders before any revocation." },
        { "exo.gpu.lease.revoked", "{lease}", "Leases revoked because a device was lost or became unhealthy, or the cluster shut down." },
        { "exo.gpu.lease.active", "{lease}", "Leases granted and not yet released, per device (a gang lease counts on each of its devices)." },
        { "exo.gpu.lease.reserved", "By", "Bytes reserved by leases not yet released, per device." },
        { "exo.gpu.lease.abandoned", "{request}", "Lease requests that stopped waiting before a grant: timed out or cancelled." },
        { "exo.gpu.lease.queue.depth", "{request}", "Requests waiting for a lease." },
        { "exo.gpu.lease.wait.duration", "s", "Time from an AcquireAsync call to its grant (0 when granted at once)." },
        { "hw.gpu.utilization", "1", "Fraction of time the GPU ran a kernel (NVML utilization / 100)." },
        { "hw.gpu.memory.usage", "By", "GPU memory in use." },
        { "hw.gpu.memory.limit", "By", "GPU memory in total." },
        { "hw.temperature", "Cel", "GPU core temperature." },
        { "hw.power", "W", "GPU power draw." },
        { "hw.status", "1", "Operational status of the GPU: 1 for its current hw.state, 0 for the others." },
        { "hw.errors", "{error}", "ECC errors of the GPU since its driver loaded, by error.type (corrected, uncorrected)." },
    };

    /// <summary>Every instrument declared: a name constant with its <c>…Unit</c> and <c>…Description</c>.</summary>
    private static Dictionary<string, (string Unit, string Description)> Declared()
    {
        var constants = typeof(GpuInstruments).GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .ToDictionary(f => f.Name, f => (string)f.GetRawConstantValue()!, StringComparer.Ordinal);
        return constants
            .Where(c => constants.ContainsKey(c.Key + "Unit") && constants.ContainsKey(c.Key + "Description"))
            .ToDictionary(c => c.Value, c => (constants[c.Key + "Unit"], constants[c.Key + "Description"]), StringComparer.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Published))]
    public void Declared_AsPublished(string name, string unit, string description)
    {
        Declared().Should().ContainKey(name).WhoseValue.Should().Be((unit, description));
    }

    [Fact]
    public void MeterName_IsTheLibrarysName() => GpuInstruments.MeterName.Should().Be("Exo.Gpu.Clustering");

    [Fact]
    public async Task EveryInstrumentOfARunningCollectorAndSelector_IsDeclared_AndEveryDeclaredOneIsPublished()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, devices: 2);
        await using var selector = new DeviceSelector(collector);
        var meters = new[] { collector.Meter, selector.Metrics.Granted.Meter };
        var seen = new List<Instrument>();
        var tags = new HashSet<string>(StringComparer.Ordinal);
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (meters.Contains(instrument.Meter))
                {
                    lock (seen)
                    {
                        seen.Add(instrument);
                    }

                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<double>((_, _, t, _) => Collect(tags, t));
            listener.SetMeasurementEventCallback<long>((_, _, t, _) => Collect(tags, t));
            listener.Start();

            collector.Record(collector.Devices[0].Uuid, Sample(Start, utilization: 50, temperature: 60, power: 300, memoryUsed: 1L << 30));
            selector.TryAcquire(new GpuRequest { MemoryBytes = 1L << 30 }, out var lease).Should().BeTrue();
            await lease.DisposeAsync();
            listener.RecordObservableInstruments();
        }

        meters.Should().OnlyContain(m => m.Name == GpuInstruments.MeterName);
        var declared = Declared();
        foreach (var instrument in seen)
        {
            declared.Should().ContainKey(instrument.Name, "every instrument name is declared in GpuInstruments")
                .WhoseValue.Should().Be((instrument.Unit ?? "", instrument.Description ?? ""), instrument.Name);
        }

        seen.Select(i => i.Name).Should().BeEquivalentTo(declared.Keys, "every declared instrument is published");
        tags.Should().BeSubsetOf([
                GpuInstruments.HwIdAttribute, GpuInstruments.HwNameAttribute, GpuInstruments.HwTypeAttribute, GpuInstruments.HwVendorAttribute,
                GpuInstruments.HwModelAttribute, GpuInstruments.HwDriverVersionAttribute, GpuInstruments.HwStateAttribute, GpuInstruments.ErrorTypeAttribute])
            .And.Contain(GpuInstruments.HwIdAttribute);
    }

    private static void Collect(HashSet<string> tags, ReadOnlySpan<KeyValuePair<string, object?>> measurementTags)
    {
        lock (tags)
        {
            foreach (var tag in measurementTags)
            {
                tags.Add(tag.Key);
            }
        }
    }
}
