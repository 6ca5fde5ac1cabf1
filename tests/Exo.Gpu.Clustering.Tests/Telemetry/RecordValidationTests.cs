using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Telemetry.TelemetryTestKit;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class RecordValidationTests
{
    private static readonly string Uuid = Device(0).Uuid;

    public static TheoryData<string, string, object> InvalidSamples()
    {
        return new TheoryData<string, string, object>
        {
            { "utilization NaN", nameof(GpuSample.UtilizationPercent), double.NaN },
            { "utilization +inf", nameof(GpuSample.UtilizationPercent), double.PositiveInfinity },
            { "utilization negative", nameof(GpuSample.UtilizationPercent), -0.5 },
            { "utilization above 100", nameof(GpuSample.UtilizationPercent), 100.5 },
            { "memory utilization above 100", nameof(GpuSample.MemoryUtilizationPercent), 101.0 },
            { "temperature NaN", nameof(GpuSample.TemperatureC), double.NaN },
            { "temperature -inf", nameof(GpuSample.TemperatureC), double.NegativeInfinity },
            { "temperature negative", nameof(GpuSample.TemperatureC), -1.0 },
            { "power NaN", nameof(GpuSample.PowerW), double.NaN },
            { "power +inf", nameof(GpuSample.PowerW), double.PositiveInfinity },
            { "power negative", nameof(GpuSample.PowerW), -3.0 },
            { "power limit negative", nameof(GpuSample.PowerLimitW), -700.0 },
            { "memory used negative", nameof(GpuSample.MemoryUsedBytes), -1L },
            { "memory used over total", nameof(GpuSample.MemoryUsedBytes), TotalMemory + 1 },
            { "memory total zero", nameof(GpuSample.MemoryTotalBytes), 0L },
            { "ecc corrected negative", nameof(GpuSample.EccCorrectedErrors), -1L },
            { "ecc uncorrected negative", nameof(GpuSample.EccUncorrectedErrors), -2L },
            { "sm clock negative", nameof(GpuSample.SmClockMHz), -1 },
        };
    }

    private static GpuSample With(string field, object value)
    {
        var s = Sample(Start);
        return field switch
        {
            nameof(GpuSample.UtilizationPercent) => new GpuSample { Timestamp = s.Timestamp, UtilizationPercent = (double)value },
            nameof(GpuSample.MemoryUtilizationPercent) => new GpuSample { Timestamp = s.Timestamp, MemoryUtilizationPercent = (double)value },
            nameof(GpuSample.TemperatureC) => new GpuSample { Timestamp = s.Timestamp, TemperatureC = (double)value },
            nameof(GpuSample.PowerW) => new GpuSample { Timestamp = s.Timestamp, PowerW = (double)value },
            nameof(GpuSample.PowerLimitW) => new GpuSample { Timestamp = s.Timestamp, PowerLimitW = (double)value },
            nameof(GpuSample.MemoryUsedBytes) => new GpuSample { Timestamp = s.Timestamp, MemoryUsedBytes = (long)value },
            nameof(GpuSample.MemoryTotalBytes) => new GpuSample { Timestamp = s.Timestamp, MemoryTotalBytes = (long)value },
            nameof(GpuSample.EccCorrectedErrors) => new GpuSample { Timestamp = s.Timestamp, EccCorrectedErrors = (long)value },
            nameof(GpuSample.EccUncorrectedErrors) => new GpuSample { Timestamp = s.Timestamp, EccUncorrectedErrors = (long)value },
            nameof(GpuSample.SmClockMHz) => new GpuSample { Timestamp = s.Timestamp, SmClockMHz = (int)value },
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        };
    }

    [Theory]
    [MemberData(nameof(InvalidSamples))]
    public async Task Record_InvalidValue_ThrowsNamingFieldAndValue_NothingRecorded(string because, string field, object value)
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var act = () => collector.Record(Uuid, With(field, value));

        var e = act.Should().Throw<GpuSampleValidationException>(because).Which;
        e.Field.Should().Be(field);
        e.ParamName.Should().Be("sample");
        e.ActualValue.Should().Be(value);
        e.Message.Should().Contain("GpuSample." + field);
        collector.GetHistory(Uuid).Should().BeEmpty();
        collector.GetStatus(Uuid).Latest.Should().BeNull();
    }

    [Fact]
    public async Task Record_ValuesAtTheirLimits_Accepted()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, new GpuSample
        {
            Timestamp = Start,
            UtilizationPercent = 100,
            MemoryUtilizationPercent = 0,
            TemperatureC = 0,
            PowerW = 0,
            MemoryUsedBytes = TotalMemory,
            EccUncorrectedErrors = 0,
        });
        collector.GetHistory(Uuid).Should().HaveCount(1);
    }

    [Fact]
    public async Task Record_OnlyTimestamp_AcceptedAsReadingWithoutValues()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, new GpuSample { Timestamp = Start });
        collector.GetStatus(Uuid).Health.Should().Be(GpuHealth.Healthy);
    }

    [Fact]
    public async Task Record_UsedOverDeviceTotal_WhenReadingHasNoTotal_Throws()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = new TelemetryCollector([Device(0, totalMemoryBytes: 1000)], timeProvider: time);
        var act = () => collector.Record(Uuid, new GpuSample { Timestamp = Start, MemoryUsedBytes = 1001 });
        act.Should().Throw<GpuSampleValidationException>().Which.Field.Should().Be(nameof(GpuSample.MemoryUsedBytes));
        collector.Record(Uuid, new GpuSample { Timestamp = Start, MemoryUsedBytes = 1000 });
    }

    [Fact]
    public async Task Record_UsedOverReadingTotal_ThrowsEvenWhenDeviceTotalIsLarger()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var act = () => collector.Record(Uuid, new GpuSample { Timestamp = Start, MemoryUsedBytes = 2000, MemoryTotalBytes = 1000 });
        act.Should().Throw<GpuSampleValidationException>().WithMessage("*2000 bytes*1000 bytes*");
    }

    [Fact]
    public async Task Record_MissingTimestamp_Throws()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var act = () => collector.Record(Uuid, new GpuSample { TemperatureC = 50 });
        act.Should().Throw<GpuSampleValidationException>().Which.Field.Should().Be(nameof(GpuSample.Timestamp));
    }

    [Fact]
    public async Task Record_StampedBeforeNewest_AcceptedInArrivalOrderAndJudged()
    {
        // A wall clock stepped back between two readings: the second is stamped before the first. It is a valid
        // reading, recorded after the first (history follows arrival) and judged like any other.
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start.AddSeconds(2), temperature: 50));
        time.Advance(TimeSpan.FromSeconds(1));

        collector.Record(Uuid, Sample(Start.AddSeconds(1), temperature: 99));

        collector.GetHistory(Uuid).Select(s => (s.Timestamp, s.TemperatureC)).Should().Equal((Start.AddSeconds(2), 50), (Start.AddSeconds(1), 99));
        collector.GetStatus(Uuid).Should().Match<GpuDeviceStatus>(s => s.Health == GpuHealth.Unhealthy && s.IsFresh && s.ConsecutiveFailures == 0);
        collector.GetHistory(Uuid, TimeSpan.FromMilliseconds(500)).Select(s => s.TemperatureC).Should().Equal(99);
    }

    [Fact]
    public async Task Record_SameTimestampAsNewest_Accepted()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.Record(Uuid, Sample(Start, temperature: 50));
        collector.Record(Uuid, Sample(Start, temperature: 51));
        collector.GetHistory(Uuid).Select(s => s.TemperatureC).Should().Equal(50, 51);
    }

    [Fact]
    public async Task Record_UnknownDevice_ThrowsArgumentExceptionNamingUuid()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var act = () => collector.Record("GPU-nope", Sample(Start));
        act.Should().Throw<ArgumentException>().Where(e => e.ParamName == "uuid" && e.Message.Contains("GPU-nope"));
    }

    [Fact]
    public async Task Record_NullUuid_ThrowsArgumentNull()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        var act = () => collector.Record(null!, Sample(Start));
        act.Should().Throw<ArgumentNullException>().WithParameterName("uuid");
    }

    [Fact]
    public async Task Record_AfterDispose_ThrowsObjectDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var collector = Collector(time);
        await collector.DisposeAsync();
        await collector.DisposeAsync(); // idempotent
        var act = () => collector.Record(Uuid, Sample(Start));
        act.Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task Record_LostDevice_ThrowsInvalidOperation_UntilRejoin()
    {
        var time = new FakeTimeProvider(Start);
        await using var collector = Collector(time);
        collector.MarkLost(0, "fell off the bus").Should().BeTrue();
        var act = () => collector.Record(Uuid, Sample(Start));
        act.Should().Throw<InvalidOperationException>().WithMessage("*lost*");
        collector.AddOrRejoin(Device(0));
        collector.Record(Uuid, Sample(Start));
        collector.GetHistory(Uuid).Should().HaveCount(1);
    }

    [Fact]
    public void Constructor_BadDevices_ThrowNamingDevices()
    {
        var empty = () => new TelemetryCollector([]);
        empty.Should().Throw<ArgumentException>().WithParameterName("devices");
        var nulls = () => new TelemetryCollector([Device(0), null!]);
        nulls.Should().Throw<ArgumentException>().WithParameterName("devices");
        var duplicate = () => new TelemetryCollector([Device(0), Device(0)]);
        duplicate.Should().Throw<ArgumentException>().WithParameterName("devices").WithMessage("*" + Device(0).Uuid + "*");
        var none = () => new TelemetryCollector(null!);
        none.Should().Throw<ArgumentNullException>().WithParameterName("devices");
    }

    [Fact]
    public void Constructor_EveryBadOption_ListedInOneException()
    {
        var options = new TelemetryOptions
        {
            HistoryCapacity = 0,
            MaxSampleAge = TimeSpan.Zero,
            StalenessLimit = TimeSpan.FromSeconds(-1),
            HealthHoldTime = TimeSpan.FromSeconds(-1),
            TemperatureDegradedC = new HealthThreshold(80, 85),
            TemperatureUnhealthyC = new HealthThreshold(double.NaN, 0),
            PowerDegradedFraction = new HealthThreshold(-1, -2),
            SamplingFailuresDegraded = 0,
            SamplingFailuresUnhealthy = -1,
            CriticalEventHealthDuration = TimeSpan.Zero,
            PollInterval = TimeSpan.Zero,
            SampleTimeout = TimeSpan.Zero,
        };
        var act = () => new TelemetryCollector([Device(0)], options);
        var e = act.Should().Throw<ArgumentException>().WithParameterName("options").Which;
        foreach (var name in new[]
        {
            "HistoryCapacity", "MaxSampleAge", "StalenessLimit", "HealthHoldTime", "TemperatureDegradedC", "TemperatureUnhealthyC",
            "PowerDegradedFraction", "SamplingFailuresDegraded", "SamplingFailuresUnhealthy", "CriticalEventHealthDuration",
            "PollInterval", "SampleTimeout",
        })
        {
            e.Message.Should().Contain(name + " ", $"{name} is invalid");
        }

        e.Message.Should().StartWith("Invalid telemetry options: ").And.Contain("it is 0.").And.Contain("enter 80 / leave 85");
    }

    [Fact]
    public void Constructor_StalenessNotAbovePollInterval_Rejected()
    {
        var act = () => new TelemetryCollector([Device(0)], new TelemetryOptions { PollInterval = TimeSpan.FromSeconds(5), StalenessLimit = TimeSpan.FromSeconds(5) });
        act.Should().Throw<ArgumentException>().WithMessage("*StalenessLimit must be more than PollInterval*");
    }

    [Fact]
    public void Constructor_UnhealthyTemperatureBelowDegraded_Rejected()
    {
        var act = () => new TelemetryCollector([Device(0)], new TelemetryOptions { TemperatureDegradedC = new(90, 85), TemperatureUnhealthyC = new(80, 75) });
        act.Should().Throw<ArgumentException>().WithMessage("*TemperatureUnhealthyC must enter at or above*");
    }

    [Fact]
    public async Task Constructor_OptionsChangedLater_CollectorUnaffected()
    {
        var time = new FakeTimeProvider(Start);
        var options = Options(capacity: 2);
        await using var collector = Collector(time, options: options);
        options.HistoryCapacity = 100;
        for (var i = 0; i < 5; i++)
        {
            collector.Record(Uuid, Sample(Start.AddSeconds(i)));
        }

        collector.GetHistory(Uuid).Should().HaveCount(2);
    }
}
