using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class HealthTests
{
    private static readonly string Uuid = Device(0).Uuid;

    private static List<GpuHealthChange> Watch(TelemetryCollector collector)
    {
        var changes = new List<GpuHealthChange>();
        ((IDeviceStateSource)collector).HealthChanged += changes.Add;
        return changes;
    }

    [Fact]
    public async Task GetState_FreshThenStale_WithFakeClock()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time); // staleness limit 5 s
        IDeviceStateSource source = collector;
        var changes = Watch(collector);

        source.GetState(0).Should().Be(new DeviceState(GpuHealth.Unknown, false, default, TimeSpan.MaxValue));

        var sample = Sample(Start);
        collector.Record(Uuid, sample);
        source.GetState(0).Should().Be(new DeviceState(GpuHealth.Healthy, true, sample, TimeSpan.Zero));

        time.Advance(TimeSpan.FromSeconds(5)); // exactly at the limit: still fresh
        source.GetState(0).Should().Be(new DeviceState(GpuHealth.Healthy, true, sample, TimeSpan.FromSeconds(5)));

        time.Advance(TimeSpan.FromTicks(1));
        var stale = source.GetState(0);
        stale.Health.Should().Be(GpuHealth.Unknown);
        stale.HasFreshSample.Should().BeFalse();
        stale.Sample.Should().Be(default(GpuSample), "a stale reading is never handed out as current");
        stale.SampleAge.Should().Be(TimeSpan.FromSeconds(5) + TimeSpan.FromTicks(1));

        var status = collector.GetStatus(Uuid);
        status.IsFresh.Should().BeFalse();
        status.Latest.Should().Be(sample, "the status still shows the newest reading, marked stale");

        time.Advance(TimeSpan.FromSeconds(1)); // the staleness sweep publishes the change without a new reading
        changes.Select(c => (c.Previous, c.Current)).Should().Equal((GpuHealth.Unknown, GpuHealth.Healthy), (GpuHealth.Healthy, GpuHealth.Unknown));
        changes[1].Reason.Should().Contain("no reading for");

        collector.Record(Uuid, Sample(time.GetUtcNow()));
        source.GetState(0).Health.Should().Be(GpuHealth.Healthy);
        changes.Should().HaveCount(3);
    }

    [Fact]
    public async Task GetState_ReadingStampedFarInTheFuture_FreshAndAgedFromItsRecording()
    {
        // A backend whose wall clock is ten minutes ahead (or was stepped): its reading is neither stale nor locked out
        // until the collector's clock catches up; it is aged from when it was recorded, on the monotonic clock.
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var future = Sample(Start.AddMinutes(10));
        collector.Record(Uuid, future);
        ((IDeviceStateSource)collector).GetState(0).Should().Be(new DeviceState(GpuHealth.Healthy, true, future, TimeSpan.Zero));
        collector.GetStatus(Uuid).Latest.Should().Be(future, "the stamp is kept as information");

        time.Advance(TimeSpan.FromSeconds(5));
        ((IDeviceStateSource)collector).GetState(0).Health.Should().Be(GpuHealth.Healthy);
        time.Advance(TimeSpan.FromTicks(1));
        var stale = ((IDeviceStateSource)collector).GetState(0);
        stale.Health.Should().Be(GpuHealth.Unknown, "5 s after it was recorded, whatever it was stamped");
        stale.SampleAge.Should().Be(TimeSpan.FromSeconds(5) + TimeSpan.FromTicks(1));

        collector.Record(Uuid, Sample(Start.AddMinutes(-10)));
        ((IDeviceStateSource)collector).GetState(0).Health.Should().Be(GpuHealth.Healthy, "a reading stamped in the past is fresh when recorded");
    }

    [Fact]
    public async Task GetState_BadSlot_Throws()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        IDeviceStateSource source = collector;
        FluentActions.Invoking(() => source.GetState(1)).Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => source.GetState(-1)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public async Task Temperature_OscillatingAroundThreshold_DoesNotFlap()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(hold: TimeSpan.FromSeconds(30))); // Degraded 85 / 80
        var changes = Watch(collector);
        for (var i = 0; i < 120; i++)
        {
            // 84, 86, 84, 86, ...: crosses the enter threshold every other second but never drops below 80.
            collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: i % 2 == 0 ? 84 : 86));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        changes.Select(c => c.Current).Should().Equal(GpuHealth.Healthy, GpuHealth.Degraded);
        changes[1].Reason.Should().Contain("temperature 86 °C");
    }

    [Fact]
    public async Task Temperature_WithoutHysteresis_WouldFlap()
    {
        // The same readings with enter == leave and no hold time flap on every reading: the test above can fail.
        var time = new FakeTimeProvider(Start);
        var options = Options(hold: TimeSpan.Zero);
        options.TemperatureDegradedC = new HealthThreshold(85, 85);
        await using var collector = Collector(time, options: options);
        var changes = Watch(collector);
        for (var i = 0; i < 10; i++)
        {
            collector.Record(Uuid, Sample(time.GetUtcNow(), temperature: i % 2 == 0 ? 84 : 86));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        changes.Should().HaveCount(10);
    }

    [Fact]
    public async Task Temperature_LeavesOnlyAfterHoldTimeBelowLeaveThreshold()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(hold: TimeSpan.FromSeconds(10)));
        collector.Record(Uuid, At(time, Sample(Start, temperature: 90)));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Degraded);

        collector.Record(Uuid, At(time, Sample(Start.AddSeconds(1), temperature: 70))); // below 80: the hold starts
        collector.Record(Uuid, At(time, Sample(Start.AddSeconds(6), temperature: 82))); // back above leave: the hold resets
        collector.Record(Uuid, At(time, Sample(Start.AddSeconds(7), temperature: 70))); // hold starts again at 7 s
        collector.Record(Uuid, At(time, Sample(Start.AddSeconds(16), temperature: 70)));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Degraded, "only 9 s below 80 °C");

        collector.Record(Uuid, At(time, Sample(Start.AddSeconds(17), temperature: 70)));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Theory]
    [InlineData(96, GpuHealth.Unhealthy)]
    [InlineData(95, GpuHealth.Unhealthy)]
    [InlineData(94.9, GpuHealth.Degraded)]
    [InlineData(85, GpuHealth.Degraded)]
    [InlineData(84.9, GpuHealth.Healthy)]
    public async Task Temperature_DefaultThresholds(double temperature, GpuHealth expected)
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start, temperature: temperature));
        collector.GetStatus(Uuid).Health.Should().Be(expected);
    }

    [Theory]
    [InlineData(686, 700, GpuHealth.Degraded)]   // 0.98 of the limit
    [InlineData(685, 700, GpuHealth.Healthy)]
    [InlineData(700, 0, GpuHealth.Healthy)]      // no usable limit: the rule cannot judge
    public async Task Power_AgainstLimit(double power, double limit, GpuHealth expected)
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start, power: power, powerLimit: limit));
        collector.GetStatus(Uuid).Health.Should().Be(expected);
    }

    [Fact]
    public async Task UncorrectedEcc_Unhealthy()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(hold: TimeSpan.Zero));
        collector.Record(Uuid, Sample(Start, eccUncorrected: 1));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy);
        collector.Record(Uuid, Sample(Start.AddSeconds(1), eccUncorrected: 0));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Theory]
    [InlineData(GpuClockEventReasons.HwSlowdown, GpuHealth.Degraded)]
    [InlineData(GpuClockEventReasons.HwThermalSlowdown | GpuClockEventReasons.SwThermalSlowdown, GpuHealth.Degraded)]
    [InlineData(GpuClockEventReasons.HwPowerBrakeSlowdown, GpuHealth.Degraded)]
    [InlineData(GpuClockEventReasons.SwPowerCap | GpuClockEventReasons.GpuIdle, GpuHealth.Healthy)]
    public async Task HardwareSlowdown_Degraded(GpuClockEventReasons reasons, GpuHealth expected)
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start, reasons: reasons));
        collector.GetStatus(Uuid).Health.Should().Be(expected);
    }

    [Fact]
    public async Task Rules_Disabled_DoNotJudge()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: new TelemetryOptions
        {
            TemperatureDegradedC = null,
            TemperatureUnhealthyC = null,
            PowerDegradedFraction = null,
            EccUncorrectedUnhealthy = null,
            HardwareSlowdownDegrades = false,
        });
        collector.Record(Uuid, Sample(Start, temperature: 110, power: 700, eccUncorrected: 5, reasons: GpuClockEventReasons.HwSlowdown));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task SamplingFailures_DegradedThenUnhealthy_EvenWhenStale_ThenRecover()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, options: Options(hold: TimeSpan.FromSeconds(2))); // 2 -> Degraded, 4 -> Unhealthy
        collector.Record(Uuid, Sample(Start));
        collector.RecordFailure(0, "boom");
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy, "one failure is tolerated");
        collector.RecordFailure(0, "boom");
        collector.GetStatus(Uuid).Should().Match<GpuDeviceStatus>(s => s.Health == GpuHealth.Degraded && s.ConsecutiveFailures == 2);

        time.Advance(TimeSpan.FromSeconds(10));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unknown, "Degraded failures do not outrank a missing reading");
        collector.RecordFailure(0, "boom");
        collector.RecordFailure(0, "boom");
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy, "Unhealthy failures hold without a fresh reading");

        collector.Record(Uuid, Sample(time.GetUtcNow()));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy, "recovery waits for the hold time");
        collector.GetStatus(Uuid).ConsecutiveFailures.Should().Be(0);
        time.Advance(TimeSpan.FromSeconds(2));
        collector.Record(Uuid, Sample(time.GetUtcNow()));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task SingleFailure_NoReadingYet_Unknown()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.RecordFailure(0, "boom");
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unknown);
    }

    [Theory]
    [InlineData(GpuDeviceEventKind.CriticalXid, 79, "critical Xid 79")]
    [InlineData(GpuDeviceEventKind.DoubleBitEccError, 0, "double-bit ECC")]
    public async Task CriticalEvent_UnhealthyUntilRejoin(GpuDeviceEventKind kind, long code, string reason)
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var changes = Watch(collector);
        collector.Record(Uuid, Sample(Start));
        collector.ApplyEvent(new GpuDeviceEvent(Uuid, kind, code, Start)).Should().BeTrue();
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy);
        changes[^1].Reason.Should().Contain(reason);

        for (var i = 1; i <= 100; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            collector.Record(Uuid, Sample(time.GetUtcNow()));
        }

        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy, "sticky by default");
        collector.MarkLost(0, "reset");
        collector.AddOrRejoin(Device(0));
        collector.Record(Uuid, Sample(time.GetUtcNow()));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task CriticalEvent_WithDuration_ClearsAfterIt()
    {
        var time = new FakeTimeProvider(Start);
        var options = Options();
        options.CriticalEventHealthDuration = TimeSpan.FromSeconds(10);
        await using var collector = Collector(time, options: options);
        var changes = Watch(collector);
        collector.ApplyEvent(new GpuDeviceEvent(Uuid, GpuDeviceEventKind.CriticalXid, 48, Start));
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Unhealthy);
        for (var i = 1; i <= 12; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            collector.Record(Uuid, Sample(time.GetUtcNow()));
        }

        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
        changes.Select(c => c.Current).Should().Equal(GpuHealth.Unhealthy, GpuHealth.Healthy);
    }

    [Fact]
    public async Task Events_SingleBitEccAndUnknownDevice_Ignored()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start));
        collector.ApplyEvent(new GpuDeviceEvent(Uuid, GpuDeviceEventKind.SingleBitEccError, 0, Start)).Should().BeFalse();
        collector.ApplyEvent(new GpuDeviceEvent("GPU-other", GpuDeviceEventKind.CriticalXid, 79, Start)).Should().BeFalse();
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task Lost_FromEvent_LeftOnlyOnRejoin_WithFreshHistory()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time, devices: 2);
        IDeviceStateSource source = collector;
        var changes = Watch(collector);
        collector.Record(Uuid, Sample(Start.AddSeconds(5), temperature: 70));
        var version = source.Version;

        collector.ApplyEvent(new GpuDeviceEvent(Uuid, GpuDeviceEventKind.Lost, 0, Start.AddSeconds(6))).Should().BeTrue();
        source.Version.Should().Be(version + 1);
        source.GetState(0).Should().Match<DeviceState>(s => s.Health == GpuHealth.Lost && !s.HasFreshSample);
        collector.MarkLost(0, "again").Should().BeFalse("already lost");
        collector.RecordFailure(0, "x").Should().BeFalse();
        collector.ApplyEvent(new GpuDeviceEvent(Uuid, GpuDeviceEventKind.CriticalXid, 79, Start)).Should().BeFalse();
        source.GetState(0).Health.Should().Be(GpuHealth.Lost, "nothing but a rejoin leaves Lost");
        source.Devices.Should().HaveCount(2, "lost devices keep their slot");

        var returning = Device(0);
        collector.AddOrRejoin(returning).Should().Be(0);
        source.Version.Should().Be(version + 2);
        source.Devices[0].Should().BeSameAs(returning);
        collector.GetHistory(Uuid).Should().BeEmpty("a returning device starts a fresh history");
        source.GetState(0).Health.Should().Be(GpuHealth.Unknown);
        collector.Record(Uuid, Sample(Start)); // older than the pre-loss reading: fine in a fresh history
        source.GetState(0).Health.Should().Be(GpuHealth.Healthy);
        changes.Select(c => c.Current).Should().Equal(GpuHealth.Healthy, GpuHealth.Lost, GpuHealth.Unknown, GpuHealth.Healthy);
        changes[1].Reason.Should().Contain("lost");
    }

    [Fact]
    public async Task AddOrRejoin_NewDevice_NewSlotAndVersion()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        IDeviceStateSource source = collector;
        var version = source.Version;
        collector.AddOrRejoin(Device(7)).Should().Be(1);
        source.Version.Should().Be(version + 1);
        collector.Devices.Select(d => d.Index).Should().Equal(0, 7);
        collector.AddOrRejoin(Device(7)).Should().Be(1);
        source.Version.Should().Be(version + 1, "a device already present is not a change of the set");
        collector.Record(Device(7).Uuid, Sample(Start));
        source.GetState(1).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task HealthChanges_PublishedInOrderToSubscribersAndLogged()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        await using var collector = Collector(time, options: Options(hold: TimeSpan.Zero), logs: logs);
        var reader = collector.SubscribeHealthChanges();
        collector.Record(Uuid, Sample(Start, temperature: 60));
        collector.Record(Uuid, Sample(Start.AddSeconds(1), temperature: 88));
        collector.Record(Uuid, Sample(Start.AddSeconds(2), temperature: 97));
        collector.Record(Uuid, Sample(Start.AddSeconds(3), temperature: 60));
        await collector.DisposeAsync();

        var changes = new List<GpuHealthChange>();
        await foreach (var c in reader.ReadAllAsync(Guard()))
        {
            changes.Add(c);
        }

        changes.Select(c => (c.Previous, c.Current)).Should().Equal(
            (GpuHealth.Unknown, GpuHealth.Healthy),
            (GpuHealth.Healthy, GpuHealth.Degraded),
            (GpuHealth.Degraded, GpuHealth.Unhealthy),
            (GpuHealth.Unhealthy, GpuHealth.Healthy));
        changes.Should().OnlyContain(c => c.Device.Uuid == Uuid && c.Timestamp == Start);
        var logged = logs.Collector.GetSnapshot().Where(r => r.Id.Id == LogEventIds.HealthChanged).ToList();
        logged.Should().HaveCount(4);
        logged[2].Level.Should().Be(LogLevel.Warning);
        logged[2].Message.Should().Contain("Degraded -> Unhealthy").And.Contain("temperature 97 °C");
        logged[3].Level.Should().Be(LogLevel.Information);
    }

    [Fact]
    public async Task HealthChanged_ThrowingHandler_LoggedAndOthersStillCalled()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        await using var collector = Collector(time, logs: logs);
        IDeviceStateSource source = collector;
        var seen = 0;
        source.HealthChanged += _ => throw new InvalidOperationException("bad handler");
        source.HealthChanged += _ => seen++;
        collector.Record(Uuid, Sample(Start));
        seen.Should().Be(1);
        logs.Collector.GetSnapshot().Should().Contain(r => r.Level == LogLevel.Error && r.Exception is InvalidOperationException);
    }
}
