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
        o.Errors().Should().BeEmpty();
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

        o.Errors().Should().Equal(
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
            SimulatedOptions = new SimulatedGpuBackendOptions { DeviceCount = 0 },
            Telemetry = new TelemetryOptions { SampleTimeout = TimeSpan.Zero },
            Selector = new DeviceSelectorOptions { Weights = new GpuScoreWeights { Utilization = double.PositiveInfinity } },
            RediscoveryInterval = TimeSpan.Zero,
        };

        o.Errors().Should().Equal(
            "BackendChoice must be a defined GpuBackendChoice; it is 9.",
            "NvmlOptions.EventWaitTimeout must be from 1 ms to 1 minute; it is 00:00:00.",
            "SimulatedOptions.DeviceCount must be from 1 to 1024; it is 0.",
            "Telemetry.SampleTimeout must be more than 0; it is 00:00:00.",
            "Selector.Weights.Utilization must be a finite number of 0 or more; it is Infinity.",
            "RediscoveryInterval must be more than 0 and at most one day, or null; it is 00:00:00.");
    }

    [Fact]
    public void Validate_NullNestedOptions_Named()
    {
        var o = new GpuClusteringOptions { Telemetry = null!, Selector = null! };
        o.Errors().Should().Equal("Telemetry must not be null.", "Selector must not be null.");
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
            o.Errors().Should().BeEmpty();
        }

        static void Invalid(Action<GpuClusteringOptions> set, string name)
        {
            var o = new GpuClusteringOptions();
            set(o);
            o.Errors().Should().ContainSingle().Which.Should().StartWith(name + " must ");
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

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void EveryOptionsType_HoldsOnlyData(Type type)
    {
        // Services (clocks, loggers, meter factories, backends) live in GpuClusteringServices: a binder cannot make them,
        // and the source generator warns (SYSLIB1100/1101) on every one.
        Type[] data = [typeof(string), typeof(TimeSpan), typeof(HealthThreshold), typeof(GpuScoreWeights), typeof(GpuClusteringOptions), typeof(TelemetryOptions), typeof(DeviceSelectorOptions), typeof(NvmlGpuBackendOptions), typeof(SimulatedGpuBackendOptions)];
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            (t.IsPrimitive || t.IsEnum || data.Contains(t)).Should().BeTrue($"{type.Name}.{property.Name} ({t.Name}) must be plain data");
        }
    }

    [Fact]
    public void Validate_Public_GivesEachErrorWithItsPath()
    {
        var o = new GpuClusteringOptions
        {
            Telemetry = new TelemetryOptions { HistoryCapacity = 0 },
            SimulatedOptions = new SimulatedGpuBackendOptions { DeviceCount = 2, Faults = "hot:3@1s" },
            StopTimeout = TimeSpan.FromHours(2),
        };

        var errors = o.Validate();

        errors.Select(e => e.Path).Should().Equal("SimulatedOptions.Faults", "Telemetry.HistoryCapacity", "StopTimeout");
        errors.Select(e => e.Problem).Should().Equal(
            "fault 'hot:3@1s' names device 3, but SimulatedOptions.DeviceCount is 2.",
            "must be from 1 to 1048576; it is 0.",
            "must be from 0 to one hour; it is 02:00:00.");
        errors.Select(e => e.ToString()).Should().Equal(o.Errors());
        new GpuClusteringOptions().Validate().Should().BeEmpty();
    }

    [Theory]
    [InlineData("2GiB", 2L << 30)]
    [InlineData("512 MiB", 512L << 20)]
    [InlineData("1.5GB", 1_500_000_000L)]
    [InlineData("0", 0L)]
    public void MemoryHeadroom_Text_WinsOverTheBytes(string text, long bytes)
    {
        var o = new DeviceSelectorOptions { MemoryHeadroomBytes = 7, MemoryHeadroom = text };

        o.EffectiveMemoryHeadroomBytes.Should().Be(bytes);
        new GpuClusteringOptions { Selector = o }.Errors().Should().BeEmpty();
    }

    [Fact]
    public void MemoryHeadroom_Unset_TheBytesCount()
    {
        new DeviceSelectorOptions { MemoryHeadroomBytes = 7 }.EffectiveMemoryHeadroomBytes.Should().Be(7);
        new DeviceSelectorOptions().MemoryHeadroom.Should().BeNull();
    }

    [Theory]
    [InlineData("20 gigs")]
    [InlineData("-1GiB")]
    [InlineData("")]
    public void MemoryHeadroom_NotASize_NamedByItsPath(string text)
    {
        var o = new GpuClusteringOptions { Selector = new DeviceSelectorOptions { MemoryHeadroom = text } };

        o.Errors().Should().Equal($"Selector.MemoryHeadroom must be a size such as 512MiB, 2GB or 1073741824 (bytes), 0 or more; it is '{text}'.");
    }

    [Fact]
    public async Task MemoryHeadroom_Text_SetsEachDevicesLeaseCapacity()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Manager.ManagerTestKit.Start);
        var setup = Manager.ManagerTestKit.Options(time, null, Manager.ManagerTestKit.Simulated(time, devices: 1));
        setup.Options.Selector.MemoryHeadroom = "60GiB";

        var manager = await setup.StartAsync().WaitAsync(Manager.ManagerTestKit.Guard);
        await using var stop = Manager.ManagerTestKit.Stop(manager, time);

        manager.GetLeaseSnapshot().Devices.Single().CapacityBytes.Should().Be(20L << 30, "80 GiB less 60 GiB of headroom");
    }
}
