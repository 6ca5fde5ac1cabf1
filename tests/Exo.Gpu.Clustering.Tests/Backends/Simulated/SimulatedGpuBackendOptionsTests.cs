using Exo.Gpu.Clustering.Backends.Simulated;

namespace Exo.Gpu.Clustering.Tests.Backends.Simulated;

public class SimulatedGpuBackendOptionsTests
{
    private static List<string> Errors(SimulatedGpuBackendOptions options, string path = "")
    {
        var errors = new List<string>();
        SimulatedGpuBackendOptionsValidator.Validate(options, path, errors);
        return errors;
    }

    [Fact]
    public void Defaults_EqualTheNamedConstants()
    {
        var o = new SimulatedGpuBackendOptions();
        o.Seed.Should().Be(SimulatedGpuBackendOptions.DefaultSeed).And.Be(1);
        o.Profile.Devices.Should().HaveCount(8);
        o.FaultPlan.Faults.Should().BeEmpty();
        Errors(o).Should().BeEmpty();
    }

    [Fact]
    public void Validate_TwoBadValues_TwoMessagesWithTheirPaths()
    {
        var o = new SimulatedGpuBackendOptions { Profile = null!, FaultPlan = null! };

        Errors(o, "SimulatedOptions.").Should().Equal(
            "SimulatedOptions.Profile must not be null.",
            "SimulatedOptions.FaultPlan must not be null.");
    }

    [Fact]
    public void Validate_FaultsOnMissingDevices_EachListed_LastDeviceIsValid()
    {
        var o = new SimulatedGpuBackendOptions { Profile = SimulatedClusterProfile.Homogeneous(2), FaultPlan = SimulatedFaultPlan.Parse("lost:1@0s,hot:2@1s,throw:3@2s") };

        Errors(o).Should().Equal(
            "FaultPlan fault 'hot:2@1s' names device 2, but Profile has 2 devices.",
            "FaultPlan fault 'throw:3@2s' names device 3, but Profile has 2 devices.");
    }

    [Fact]
    public void Constructor_InvalidOptions_OneExceptionListingEveryError()
    {
        var act = () => new SimulatedGpuBackend(new SimulatedGpuBackendOptions { Profile = null!, FaultPlan = null! });

        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "options"
            && e.Message == "Invalid simulated backend options: Profile must not be null. FaultPlan must not be null. (Parameter 'options')");
    }
}
