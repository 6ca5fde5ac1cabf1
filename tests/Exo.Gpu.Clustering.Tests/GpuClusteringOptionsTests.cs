using System.Reflection;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Tests;

public class GpuClusteringOptionsTests
{
    public static TheoryData<Type> OptionsTypes =>
    [
        typeof(GpuClusteringOptions), typeof(TelemetryOptions), typeof(DeviceSelectorOptions), typeof(GpuScoreWeights),
        typeof(NvmlGpuBackendOptions), typeof(SimulatedGpuBackendOptions),
    ];

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void EveryOptionsType_HasPlainSettableProperties(Type type)
    {
        // Configuration binding (the reflection binder and, under AOT, the source generator) needs public setters;
        // the generator silently skips init-only ones.
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).ToList();
        properties.Should().NotBeEmpty();
        foreach (var property in properties)
        {
            property.SetMethod.Should().NotBeNull($"{type.Name}.{property.Name} must be settable");
            property.SetMethod!.IsPublic.Should().BeTrue($"{type.Name}.{property.Name} must be publicly settable");
            property.SetMethod.ReturnParameter.GetRequiredCustomModifiers().Should()
                .NotContain(typeof(IsExternalInit), $"{type.Name}.{property.Name} must not be init-only");
        }
    }

    [Fact]
    public void Defaults_EqualTheNamedConstants()
    {
        var o = new GpuClusteringOptions();
        o.RediscoveryInterval.Should().Be(GpuClusteringOptions.DefaultRediscoveryInterval).And.Be(TimeSpan.FromSeconds(30));
        o.DrainTimeout.Should().Be(GpuClusteringOptions.DefaultDrainTimeout).And.Be(TimeSpan.FromSeconds(10));
        GpuClusteringOptions.MaxRediscoveryInterval.Should().Be(TimeSpan.FromDays(1));
        GpuClusteringOptions.MaxDrainTimeout.Should().Be(TimeSpan.FromHours(1));
        o.BackendChoice.Should().Be(GpuBackendChoice.Auto);
        o.EnablePoller.Should().BeTrue();
        o.StrictStart.Should().BeFalse();
        o.NvmlOptions.Should().BeNull();
        o.SimulatedOptions.Should().BeNull();
        o.Telemetry.Should().NotBeNull();
        o.Selector.Should().NotBeNull();
        o.Validate().Should().BeEmpty();
    }

    [Fact]
    public void Validate_ThreeBadValues_ThreeMessagesWithTheirPaths()
    {
        var o = new GpuClusteringOptions
        {
            DrainTimeout = TimeSpan.FromSeconds(-1),
            Selector = new DeviceSelectorOptions { MaxLeasesPerDevice = 0 },
            Telemetry = new TelemetryOptions { HistoryCapacity = 0 },
        };

        o.Validate().Should().Equal(
            "Telemetry.HistoryCapacity must be from 1 to 1048576; it is 0.",
            "Selector.MaxLeasesPerDevice must be at least 1, or null for no limit; it is 0.",
            "DrainTimeout must be from 0 to one hour; it is -00:00:01.");
    }

    [Fact]
    public void Validate_EveryNestedOptions_NamedByItsPath()
    {
        var o = new GpuClusteringOptions
        {
            BackendChoice = (GpuBackendChoice)9,
            NvmlOptions = new NvmlGpuBackendOptions { EventWaitTimeout = TimeSpan.Zero },
            SimulatedOptions = new SimulatedGpuBackendOptions { FaultPlan = null! },
            Telemetry = new TelemetryOptions { SampleTimeout = TimeSpan.Zero },
            Selector = new DeviceSelectorOptions { Weights = new GpuScoreWeights { Utilization = double.PositiveInfinity } },
            RediscoveryInterval = TimeSpan.Zero,
        };

        o.Validate().Should().Equal(
            "BackendChoice must be a defined GpuBackendChoice; it is 9.",
            "NvmlOptions.EventWaitTimeout must be from 1 ms to 1 minute; it is 00:00:00.",
            "SimulatedOptions.FaultPlan must not be null.",
            "Telemetry.SampleTimeout must be more than 0; it is 00:00:00.",
            "Selector.Weights.Utilization must be a finite number of 0 or more; it is Infinity.",
            "RediscoveryInterval must be more than 0 and at most one day, or null; it is 00:00:00.");
    }

    [Fact]
    public void Validate_NullNestedOptions_Named()
    {
        var o = new GpuClusteringOptions { Telemetry = null!, Selector = null! };
        o.Validate().Should().Equal("Telemetry must not be null.", "Selector must not be null.");
    }

    [Fact]
    public void Validate_BoundsAreInclusive()
    {
        Valid(o => o.RediscoveryInterval = GpuClusteringOptions.MaxRediscoveryInterval);
        Valid(o => o.RediscoveryInterval = TimeSpan.FromTicks(1));
        Valid(o => o.RediscoveryInterval = null);
        Valid(o => o.DrainTimeout = TimeSpan.Zero);
        Valid(o => o.DrainTimeout = GpuClusteringOptions.MaxDrainTimeout);
        Invalid(o => o.RediscoveryInterval = GpuClusteringOptions.MaxRediscoveryInterval + TimeSpan.FromTicks(1), "RediscoveryInterval");
        Invalid(o => o.DrainTimeout = GpuClusteringOptions.MaxDrainTimeout + TimeSpan.FromTicks(1), "DrainTimeout");
        Invalid(o => o.DrainTimeout = TimeSpan.FromTicks(-1), "DrainTimeout");

        static void Valid(Action<GpuClusteringOptions> set)
        {
            var o = new GpuClusteringOptions();
            set(o);
            o.Validate().Should().BeEmpty();
        }

        static void Invalid(Action<GpuClusteringOptions> set, string name)
        {
            var o = new GpuClusteringOptions();
            set(o);
            o.Validate().Should().ContainSingle().Which.Should().StartWith(name + " must ");
        }
    }

    [Fact]
    public async Task StartAsync_InvalidNestedOptions_OneArgumentExceptionWithPaths()
    {
        var options = new GpuClusteringOptions
        {
            BackendChoice = GpuBackendChoice.Simulated,
            Selector = new DeviceSelectorOptions { RandomTopK = 0, HotTemperatureC = 25 },
            Telemetry = new TelemetryOptions { MaxBackoff = TimeSpan.FromMilliseconds(1) },
        };

        var act = () => GpuClusteringManager.StartAsync(options);

        var thrown = (await act.Should().ThrowExactlyAsync<ArgumentException>()).Which;
        thrown.ParamName.Should().Be("options");
        thrown.Message.Should().Be(
            "Invalid GPU cluster options: "
            + "Telemetry.MaxBackoff must be at least Telemetry.PollInterval (00:00:01); it is 00:00:00.0010000. "
            + "Selector.HotTemperatureC must be a finite temperature above 25 °C; it is 25. "
            + "Selector.RandomTopK must be at least 1; it is 0. (Parameter 'options')");
    }
}
