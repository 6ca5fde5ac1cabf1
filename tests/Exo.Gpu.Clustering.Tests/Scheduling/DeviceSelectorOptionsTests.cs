using Exo.Gpu.Clustering.Scheduling;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class DeviceSelectorOptionsTests
{
    private static List<string> Errors(DeviceSelectorOptions options, string path = "")
    {
        var errors = new List<string>();
        DeviceSelectorOptionsValidator.Validate(options, path, errors);
        return errors;
    }

    [Fact]
    public void Defaults_EqualTheNamedConstants()
    {
        var o = new DeviceSelectorOptions();
        o.DefaultStrategy.Should().Be(GpuSelectionStrategy.LeastLoaded);
        o.MemoryHeadroomBytes.Should().Be(DeviceSelectorOptions.DefaultMemoryHeadroomBytes).And.Be(512L << 20);
        o.HotTemperatureC.Should().Be(DeviceSelectorOptions.DefaultHotTemperatureC).And.Be(85);
        o.MaxLeasesPerDevice.Should().BeNull();
        o.RandomTopK.Should().Be(DeviceSelectorOptions.DefaultRandomTopK).And.Be(3);
        o.Seed.Should().BeNull();
        o.WaitRecheckInterval.Should().Be(DeviceSelectorOptions.DefaultWaitRecheckInterval).And.Be(TimeSpan.FromSeconds(1));
        DeviceSelectorOptions.RoomTemperatureC.Should().Be(25);
        DeviceSelectorOptions.MinMemoryHeadroomBytes.Should().Be(0);
        DeviceSelectorOptions.MinMaxLeasesPerDevice.Should().Be(1);
        DeviceSelectorOptions.MinRandomTopK.Should().Be(1);
        o.Weights.FreeMemory.Should().Be(GpuScoreWeights.DefaultFreeMemory).And.Be(0.5);
        o.Weights.Utilization.Should().Be(GpuScoreWeights.DefaultUtilization).And.Be(0.3);
        o.Weights.Temperature.Should().Be(GpuScoreWeights.DefaultTemperature).And.Be(0.1);
        o.Weights.PowerHeadroom.Should().Be(GpuScoreWeights.DefaultPowerHeadroom).And.Be(0.1);
        GpuScoreWeights.MinWeight.Should().Be(0);
        Errors(o).Should().BeEmpty();
    }

    [Fact]
    public void DefaultWeights_AreAFreshObjectEachTime_SoBindingIntoOneOptionsChangesNoOther()
    {
        // The configuration binder sets Selector:Weights:FreeMemory on the object it finds: it must not be shared.
        var first = new DeviceSelectorOptions();
        var second = new DeviceSelectorOptions();
        first.Weights.Should().NotBeSameAs(second.Weights);
        GpuScoreWeights.Default.Should().NotBeSameAs(GpuScoreWeights.Default);

        first.Weights.FreeMemory = 1;
        GpuScoreWeights.Default.FreeMemory.Should().Be(0.5);
        second.Weights.FreeMemory.Should().Be(0.5);
    }

    [Fact]
    public void Validate_ThreeBadValues_ThreeMessagesWithTheirPaths()
    {
        var o = new DeviceSelectorOptions { MaxLeasesPerDevice = 0, RandomTopK = -3, Weights = new GpuScoreWeights { PowerHeadroom = double.NaN } };

        Errors(o, "Selector.").Should().Equal(
            "Selector.Weights.PowerHeadroom must be a finite number of 0 or more; it is NaN.",
            "Selector.MaxLeasesPerDevice must be at least 1, or null for no limit; it is 0.",
            "Selector.RandomTopK must be at least 1; it is -3.");
    }

    [Fact]
    public void Validate_EveryBadWeight_Listed()
    {
        var errors = new List<string>();
        GpuScoreWeightsValidator.Validate(new GpuScoreWeights { FreeMemory = -1, Utilization = double.NegativeInfinity, Temperature = double.NaN, PowerHeadroom = -0.5 }, "Selector.Weights.", errors);

        errors.Should().Equal(
            "Selector.Weights.FreeMemory must be a finite number of 0 or more; it is -1.",
            "Selector.Weights.Utilization must be a finite number of 0 or more; it is -Infinity.",
            "Selector.Weights.Temperature must be a finite number of 0 or more; it is NaN.",
            "Selector.Weights.PowerHeadroom must be a finite number of 0 or more; it is -0.5.");
    }

    [Fact]
    public void Validate_AllWeightsZero_OneMessage()
    {
        var zero = new GpuScoreWeights { FreeMemory = 0, Utilization = 0, Temperature = 0, PowerHeadroom = 0 };
        Errors(new DeviceSelectorOptions { Weights = zero }, "Selector.").Should().Equal("Selector.Weights must have at least one weight above 0; they are all 0.");
        var errors = new List<string>();
        GpuScoreWeightsValidator.Validate(zero, string.Empty, errors);
        errors.Should().Equal("At least one weight must be above 0; they are all 0.");
    }

    [Fact]
    public void Validate_BoundsAreInclusive()
    {
        Errors(new DeviceSelectorOptions { MemoryHeadroomBytes = DeviceSelectorOptions.MinMemoryHeadroomBytes }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { MemoryHeadroomBytes = long.MaxValue }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { MaxLeasesPerDevice = DeviceSelectorOptions.MinMaxLeasesPerDevice }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { RandomTopK = DeviceSelectorOptions.MinRandomTopK }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { WaitRecheckInterval = TimeSpan.FromTicks(1) }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { WaitRecheckInterval = Timeout.InfiniteTimeSpan }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { WaitRecheckInterval = TimeSpan.FromTicks(-2) }).Should().ContainSingle().Which.Should().StartWith("WaitRecheckInterval must");
        Errors(new DeviceSelectorOptions { Weights = new GpuScoreWeights { FreeMemory = 0, Utilization = 0, Temperature = 0, PowerHeadroom = GpuScoreWeights.MinPositiveWeight } }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { Weights = new GpuScoreWeights { FreeMemory = GpuScoreWeights.MaxWeight, Utilization = GpuScoreWeights.MaxWeight, Temperature = GpuScoreWeights.MaxWeight, PowerHeadroom = GpuScoreWeights.MaxWeight } }).Should().BeEmpty();

        // The hot limit's floor is exclusive, as documented: room temperature itself is invalid.
        Errors(new DeviceSelectorOptions { HotTemperatureC = Math.BitIncrement(DeviceSelectorOptions.RoomTemperatureC) }).Should().BeEmpty();
        Errors(new DeviceSelectorOptions { HotTemperatureC = DeviceSelectorOptions.RoomTemperatureC })
            .Should().Equal("HotTemperatureC must be a finite temperature above 25 °C; it is 25.");
        Errors(new DeviceSelectorOptions { HotTemperatureC = double.PositiveInfinity }).Should().ContainSingle();
    }

    [Fact]
    public void Constructor_InvalidOptions_OneExceptionListingEveryError_AndTheOptionsAreCopied()
    {
        var options = new DeviceSelectorOptions { MemoryHeadroomBytes = -1, DefaultStrategy = (GpuSelectionStrategy)77, Weights = null! };
        var act = () => Selectors.Create(Uniform(2), options);
        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "options"
            && e.Message == "Invalid selector options: DefaultStrategy must be a defined GpuSelectionStrategy; it is 77. Weights must not be null. "
                + "MemoryHeadroomBytes must be 0 or more; it is -1. (Parameter 'options')");

        var valid = new DeviceSelectorOptions { Seed = 1, DefaultStrategy = GpuSelectionStrategy.RoundRobin };
        var selector = Selectors.Create(Uniform(2), valid);
        valid.DefaultStrategy = (GpuSelectionStrategy)77; // read once, at creation
        valid.Weights = null!;
        selector.Explain(new GpuRequest()).Strategy.Should().Be(GpuSelectionStrategy.RoundRobin);
    }
}
