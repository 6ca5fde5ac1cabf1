using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class TelemetryOptionsTests
{
    private static List<string> Errors(TelemetryOptions options, string path = "")
    {
        var errors = new List<string>();
        TelemetryOptionsValidator.Validate(options, path, errors);
        return errors;
    }

    [Fact]
    public void Defaults_EqualTheNamedConstants()
    {
        var o = new TelemetryOptions();
        o.HistoryCapacity.Should().Be(TelemetryOptions.DefaultHistoryCapacity).And.Be(600);
        o.MaxSampleAge.Should().BeNull();
        o.StalenessLimit.Should().Be(TelemetryOptions.DefaultStalenessLimit).And.Be(TimeSpan.FromSeconds(5));
        o.HealthHoldTime.Should().Be(TelemetryOptions.DefaultHealthHoldTime).And.Be(TimeSpan.FromSeconds(30));
        o.TemperatureDegradedC.Should().Be(TelemetryOptions.DefaultTemperatureDegradedC).And.Be(new HealthThreshold(85, 80));
        o.TemperatureUnhealthyC.Should().Be(TelemetryOptions.DefaultTemperatureUnhealthyC).And.Be(new HealthThreshold(95, 90));
        o.PowerDegradedFraction.Should().Be(TelemetryOptions.DefaultPowerDegradedFraction).And.Be(new HealthThreshold(0.98, 0.90));
        o.EccUncorrectedUnhealthy.Should().Be(TelemetryOptions.DefaultEccUncorrectedUnhealthy).And.Be(new HealthThreshold(1, 1));
        o.HardwareSlowdownDegrades.Should().BeTrue();
        o.SamplingFailuresDegraded.Should().Be(TelemetryOptions.DefaultSamplingFailuresDegraded).And.Be(2);
        o.SamplingFailuresUnhealthy.Should().Be(TelemetryOptions.DefaultSamplingFailuresUnhealthy).And.Be(4);
        o.CriticalEventHealthDuration.Should().BeNull();
        o.PollInterval.Should().Be(TelemetryOptions.DefaultPollInterval).And.Be(TimeSpan.FromSeconds(1));
        o.SampleTimeout.Should().Be(TelemetryOptions.DefaultSampleTimeout).And.Be(TimeSpan.FromSeconds(2));
        o.MaxBackoff.Should().Be(TelemetryOptions.DefaultMaxBackoff).And.Be(TimeSpan.FromSeconds(30));
        TelemetryOptions.MinHistoryCapacity.Should().Be(1);
        TelemetryOptions.MaxHistoryCapacity.Should().Be(1_048_576);
        TelemetryOptions.MinSamplingFailuresDegraded.Should().Be(1);
        TelemetryOptions.MaxPollInterval.Should().Be(TimeSpan.FromHours(1));
        Errors(o).Should().BeEmpty();
    }

    [Fact]
    public void Validate_ThreeBadValues_ThreeMessagesWithTheirPaths()
    {
        var o = new TelemetryOptions { HistoryCapacity = TelemetryOptions.MaxHistoryCapacity + 1, HealthHoldTime = TimeSpan.FromSeconds(-2), SamplingFailuresDegraded = 0 };

        Errors(o, "Telemetry.").Should().Equal(
            "Telemetry.HistoryCapacity must be from 1 to 1048576; it is 1048577.",
            "Telemetry.HealthHoldTime must be 0 or more; it is -00:00:02.",
            "Telemetry.SamplingFailuresDegraded must be 1 or more; it is 0.");
    }

    [Fact]
    public void Validate_Thresholds_EachRuleNamed()
    {
        var o = new TelemetryOptions
        {
            TemperatureDegradedC = new HealthThreshold(80, 85),
            TemperatureUnhealthyC = new HealthThreshold(double.NaN, 0),
            PowerDegradedFraction = new HealthThreshold(-1, -2),
            EccUncorrectedUnhealthy = null,
        };

        Errors(o).Should().Equal(
            "TemperatureDegradedC must leave at or below where it enters; it is enter 80 / leave 85.",
            "TemperatureUnhealthyC must have finite thresholds; it is enter NaN / leave 0.",
            "PowerDegradedFraction must enter at 0 or more; it is enter -1 / leave -2.");
    }

    [Fact]
    public void Validate_BoundsAreInclusive()
    {
        Errors(new TelemetryOptions { HistoryCapacity = TelemetryOptions.MinHistoryCapacity }).Should().BeEmpty();
        Errors(new TelemetryOptions { HistoryCapacity = TelemetryOptions.MaxHistoryCapacity }).Should().BeEmpty();
        Errors(new TelemetryOptions { HistoryCapacity = TelemetryOptions.MinHistoryCapacity - 1 }).Should().ContainSingle().Which.Should().StartWith("HistoryCapacity must");
        Errors(new TelemetryOptions { PollInterval = TelemetryOptions.MaxPollInterval, MaxBackoff = TelemetryOptions.MaxPollInterval, StalenessLimit = TimeSpan.FromHours(2) }).Should().BeEmpty();
        Errors(new TelemetryOptions { PollInterval = TelemetryOptions.MaxPollInterval + TimeSpan.FromTicks(1), MaxBackoff = TimeSpan.FromHours(2), StalenessLimit = TimeSpan.FromHours(2) })
            .Should().ContainSingle().Which.Should().StartWith("PollInterval must be more than 0 and at most 1 hour");
        Errors(new TelemetryOptions { SamplingFailuresDegraded = TelemetryOptions.MinSamplingFailuresDegraded, SamplingFailuresUnhealthy = TelemetryOptions.MinSamplingFailuresDegraded }).Should().BeEmpty();
        Errors(new TelemetryOptions { SamplingFailuresDegraded = 3, SamplingFailuresUnhealthy = 3 }).Should().BeEmpty();
        Errors(new TelemetryOptions { SamplingFailuresDegraded = 3, SamplingFailuresUnhealthy = 2 })
            .Should().Equal("SamplingFailuresUnhealthy must be 1 or more and at least SamplingFailuresDegraded (3); it is 2.");
        Errors(new TelemetryOptions { HealthHoldTime = TimeSpan.Zero, MaxBackoff = TelemetryOptions.DefaultPollInterval }).Should().BeEmpty();
        Errors(new TelemetryOptions { TemperatureDegradedC = new HealthThreshold(0, 0), TemperatureUnhealthyC = new HealthThreshold(0, 0) }).Should().BeEmpty();
        Errors(new TelemetryOptions { StalenessLimit = TelemetryOptions.DefaultPollInterval })
            .Should().Equal("StalenessLimit must be more than PollInterval (00:00:01), or every device turns stale between polls; it is 00:00:01.");
    }

    [Fact]
    public void Settings_FromValidOptions_CopiesEveryValue()
    {
        var o = new TelemetryOptions { HistoryCapacity = 7, MaxSampleAge = TimeSpan.FromMinutes(3), CriticalEventHealthDuration = TimeSpan.FromMinutes(1), HardwareSlowdownDegrades = false };
        var settings = TelemetrySettings.From(o);
        o.HistoryCapacity = 0; // later changes do not reach the frozen copy
        settings.HistoryCapacity.Should().Be(7);
        settings.MaxSampleAge.Should().Be(TimeSpan.FromMinutes(3));
        settings.CriticalEventDuration.Should().Be(TimeSpan.FromMinutes(1));
        settings.HardwareSlowdownDegrades.Should().BeFalse();
        settings.PollInterval.Should().Be(TelemetryOptions.DefaultPollInterval);
    }

    [Fact]
    public void Settings_FromInvalidOptions_OneExceptionListingEveryError()
    {
        var act = () => TelemetrySettings.From(new TelemetryOptions { HistoryCapacity = 0, SampleTimeout = TimeSpan.Zero, MaxSampleAge = TimeSpan.Zero }, "telemetry");

        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "telemetry"
            && e.Message == "Invalid telemetry options: HistoryCapacity must be from 1 to 1048576; it is 0. "
                + "MaxSampleAge must be more than 0, or null; it is 00:00:00. SampleTimeout must be more than 0; it is 00:00:00. (Parameter 'telemetry')");
    }
}
