using Exo.Gpu.Clustering.Backends.Simulated;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Simulated;

public class SimulatedGpuBackendOptionsTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

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
        o.DeviceCount.Should().Be(SimulatedGpuBackendOptions.DefaultDeviceCount).And.Be(8);
        SimulatedGpuBackendOptions.MaxDeviceCount.Should().Be(1024);
        o.Profile.Should().Be(SimulatedProfileKind.Homogeneous);
        o.Faults.Should().BeNull();
        Errors(o).Should().BeEmpty();
    }

    [Fact]
    public void Validate_ThreeBadValues_ThreeMessagesWithTheirPaths()
    {
        var o = new SimulatedGpuBackendOptions { DeviceCount = 0, Profile = (SimulatedProfileKind)4, Faults = "lost:x@1s" };

        Errors(o, "SimulatedOptions.").Should().Equal(
            "SimulatedOptions.DeviceCount must be from 1 to 1024; it is 0.",
            "SimulatedOptions.Profile must be a defined SimulatedProfileKind (Homogeneous or Heterogeneous); it is 4.",
            "SimulatedOptions.Faults must be a fault plan such as 'lost:2@30s+60s,hot:0@5s' (Bad fault 'lost:x@1s': the device must be a non-negative index); it is 'lost:x@1s'.");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(1024)]
    public void Validate_DeviceCountBounds_AreInclusive(int count) =>
        Errors(new SimulatedGpuBackendOptions { DeviceCount = count }).Should().BeEmpty();

    [Fact]
    public void Validate_DeviceCountAboveTheMost_Named() =>
        Errors(new SimulatedGpuBackendOptions { DeviceCount = 1025 }).Should().Equal("DeviceCount must be from 1 to 1024; it is 1025.");

    [Fact]
    public void Validate_FaultsOnMissingDevices_EachListed_LastDeviceIsValid()
    {
        var o = new SimulatedGpuBackendOptions { DeviceCount = 2, Faults = "lost:1@0s,hot:2@1s,throw:3@2s" };

        Errors(o, "SimulatedOptions.").Should().Equal(
            "SimulatedOptions.Faults fault 'hot:2@1s' names device 2, but SimulatedOptions.DeviceCount is 2.",
            "SimulatedOptions.Faults fault 'throw:3@2s' names device 3, but SimulatedOptions.DeviceCount is 2.");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Validate_NoFaults_Valid(string? faults) =>
        Errors(new SimulatedGpuBackendOptions { Faults = faults }).Should().BeEmpty();

    [Fact]
    public void Constructor_InvalidOptions_OneExceptionListingEveryError()
    {
        var act = () => new SimulatedGpuBackend(new SimulatedGpuBackendOptions { DeviceCount = -1, Faults = "melt:0@1s" });

        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "options"
            && e.Message == "Invalid simulated backend options: DeviceCount must be from 1 to 1024; it is -1. "
                + "Faults must be a fault plan such as 'lost:2@30s+60s,hot:0@5s' (Bad fault 'melt:0@1s': unknown kind 'melt' (lost, throw, hang, hot, ecc, xid)); it is 'melt:0@1s'. (Parameter 'options')");
    }

    [Fact]
    public async Task Constructor_HeterogeneousWithFaults_MakesThatCluster()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = new SimulatedGpuBackend(
            new SimulatedGpuBackendOptions { DeviceCount = 5, Profile = SimulatedProfileKind.Heterogeneous, Seed = 4, Faults = "lost:4@10s" }, time);

        backend.AllDevices.Select(d => d.Name).Should().Equal(SimulatedClusterProfile.Heterogeneous(5).Devices.Select(d => d.Name));
        (await backend.DiscoverAsync(CancellationToken.None)).Should().HaveCount(5);
        time.Advance(TimeSpan.FromSeconds(10));
        (await backend.DiscoverAsync(CancellationToken.None)).Select(d => d.Index).Should().Equal(0, 1, 2, 3);
    }

    [Fact]
    public async Task Constructor_SameOptionsAndClock_SameReadingsAsTheCustomConstructor()
    {
        var time = new FakeTimeProvider(Start);
        await using var bound = new SimulatedGpuBackend(new SimulatedGpuBackendOptions { DeviceCount = 3, Seed = 11, Faults = "hot:1@0s" }, time);
        await using var custom = new SimulatedGpuBackend(SimulatedClusterProfile.Homogeneous(3), SimulatedFaultPlan.Parse("hot:1@0s"), 11, time);
        time.Advance(TimeSpan.FromSeconds(42));

        for (var i = 0; i < 3; i++)
        {
            (await bound.SampleAsync(bound.AllDevices[i], CancellationToken.None)).Should().Be(await custom.SampleAsync(custom.AllDevices[i], CancellationToken.None));
        }
    }

    [Fact]
    public void CustomConstructor_FaultOnAMissingDevice_ThrowsNamingThePlan()
    {
        var act = () => new SimulatedGpuBackend(SimulatedClusterProfile.Custom([SimulatedDeviceSpec.T4With16GB]), SimulatedFaultPlan.Parse("lost:0@1s,hot:1@1s"));

        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "faultPlan"
            && e.Message == "Invalid simulated fault plan: faultPlan fault 'hot:1@1s' names device 1, but the profile has 1 devices. (Parameter 'faultPlan')");
    }

    [Fact]
    public void CustomConstructor_NullProfileOrPlan_ThrowsNamingIt()
    {
        FluentActions.Invoking(() => new SimulatedGpuBackend(null!, SimulatedFaultPlan.None)).Should().Throw<ArgumentNullException>().WithParameterName("profile");
        FluentActions.Invoking(() => new SimulatedGpuBackend(SimulatedClusterProfile.Homogeneous(1), null!)).Should().Throw<ArgumentNullException>().WithParameterName("faultPlan");
    }
}
