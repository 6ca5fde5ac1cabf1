using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

/// <summary><see cref="Exo.Gpu.Clustering.Telemetry.GpuDeviceStatus.Reason"/>: the collector's words for every device that is not Healthy.</summary>
public class StatusReasonTests
{
    [Fact]
    public async Task GetStatuses_HotAndEccDevices_ReasonNamesTheCauseHealthyHasNone()
    {
        var time = new FakeTimeProvider(TelemetryTestKit.Start);
        await using var collector = TelemetryTestKit.Collector(time, devices: 3, TelemetryTestKit.Options(hold: TimeSpan.Zero));
        var devices = collector.Devices;
        collector.Record(devices[0].Uuid, TelemetryTestKit.Sample(time.GetUtcNow()));
        collector.Record(devices[1].Uuid, TelemetryTestKit.Sample(time.GetUtcNow(), temperature: 97));
        collector.Record(devices[2].Uuid, TelemetryTestKit.Sample(time.GetUtcNow(), eccUncorrected: 3));

        var statuses = collector.GetStatuses();

        statuses[0].Health.Should().Be(GpuHealth.Healthy);
        statuses[0].Reason.Should().BeNull();
        statuses[1].Health.Should().Be(GpuHealth.Unhealthy);
        statuses[1].Reason.Should().Contain("temperature 97 °C");
        statuses[2].Health.Should().Be(GpuHealth.Unhealthy);
        statuses[2].Reason.Should().Contain("3 uncorrected ECC errors");
        collector.GetStatus(devices[1].Uuid).Reason.Should().Be(statuses[1].Reason);
    }

    [Fact]
    public async Task GetStatus_NoReadingYet_UnknownWithReason()
    {
        var time = new FakeTimeProvider(TelemetryTestKit.Start);
        await using var collector = TelemetryTestKit.Collector(time, devices: 1);

        var status = collector.GetStatus(collector.Devices[0].Uuid);

        status.Health.Should().Be(GpuHealth.Unknown);
        status.Reason.Should().Be("no reading yet");
    }

    [Fact]
    public async Task GetStatus_StaleReading_ReasonSaysHowOld()
    {
        var time = new FakeTimeProvider(TelemetryTestKit.Start);
        await using var collector = TelemetryTestKit.Collector(time, devices: 1);
        collector.Record(collector.Devices[0].Uuid, TelemetryTestKit.Sample(time.GetUtcNow()));
        time.Advance(TimeSpan.FromMinutes(10));

        var status = collector.GetStatus(collector.Devices[0].Uuid);

        status.Health.Should().Be(GpuHealth.Unknown);
        status.Reason.Should().StartWith("no reading for 600 s");
    }
}
