using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Tests.Backends.Simulated;

public class SimulatedSpecAndPlanTests
{
    private static SimulatedDeviceSpec Spec(
        string name = "X", long memory = 1 << 30, int sms = 10, int smClock = 1000, int memClock = 1000, int bus = 256,
        double limit = 300, double idle = 30, double baseUtil = 10) =>
        new(name, memory, new ComputeCapability(8, 0), sms, smClock, memClock, bus, limit, idle, baseUtil);

    public static TheoryData<Func<SimulatedDeviceSpec>, string> BadSpecs => new()
    {
        { () => Spec(name: " "), "name" },
        { () => Spec(memory: 0), "totalMemoryBytes" },
        { () => Spec(sms: 0), "multiprocessorCount" },
        { () => Spec(smClock: -1), "maxSmClockMHz" },
        { () => Spec(memClock: 0), "maxMemoryClockMHz" },
        { () => Spec(bus: 0), "memoryBusWidthBits" },
        { () => Spec(idle: 0), "idlePowerW" },
        { () => Spec(idle: double.NaN), "idlePowerW" },
        { () => Spec(limit: 20, idle: 30), "powerLimitW" },
        { () => Spec(limit: double.PositiveInfinity), "powerLimitW" },
        { () => Spec(baseUtil: 101), "baseUtilizationPercent" },
        { () => Spec(baseUtil: -1), "baseUtilizationPercent" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void SpecConstructor_BadValue_ThrowsNamingIt(Func<SimulatedDeviceSpec> create, string param)
    {
        create.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(param);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1025)]
    public void Homogeneous_BadCount_ThrowsNamingDeviceCount(int count)
    {
        var act = () => SimulatedClusterProfile.Homogeneous(count);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("deviceCount");
    }

    [Fact]
    public void Custom_EmptyOrNullEntry_ThrowsNamingDevices()
    {
        FluentActions.Invoking(() => SimulatedClusterProfile.Custom([])).Should().Throw<ArgumentException>().Which.ParamName.Should().Be("devices");
        FluentActions.Invoking(() => SimulatedClusterProfile.Custom([Spec(), null!])).Should().Throw<ArgumentException>().Which.ParamName.Should().Be("devices");
    }

    [Fact]
    public void Custom_GivenSpecs_KeepsOrder()
    {
        var profile = SimulatedClusterProfile.Custom([Spec("a"), Spec("b")]);
        profile.Devices.Select(d => d.Name).Should().Equal("a", "b");
    }

    [Fact]
    public void Parse_FullSyntax_ReadsEveryPart()
    {
        var plan = SimulatedFaultPlan.Parse("lost:2@30s+60s, hot:0@500ms, xid:1@1m#48, ecc:3@0s, throw:4@2h+1s, hang:5@1s");
        plan.Faults.Should().HaveCount(6);
        plan.Faults[0].Should().Be(new SimulatedFault(3, SimulatedFaultKind.EccUncorrectable, TimeSpan.Zero));
        plan.Faults.Should().ContainEquivalentOf(new SimulatedFault(2, SimulatedFaultKind.Lost, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60)));
        plan.Faults.Should().ContainEquivalentOf(new SimulatedFault(1, SimulatedFaultKind.Xid, TimeSpan.FromMinutes(1), null, 48));
        plan.Faults.Select(f => f.At).Should().BeInAscendingOrder();
    }

    [Fact]
    public void Parse_ToStringRoundTrip_SamePlan()
    {
        var plan = SimulatedFaultPlan.Parse("lost:2@30s+60s,xid:1@10s#48");
        SimulatedFaultPlan.Parse(plan.ToString()).Faults.Should().Equal(plan.Faults);
    }

    [Theory]
    [InlineData("lost")]
    [InlineData("melt:1@1s")]
    [InlineData("lost:x@1s")]
    [InlineData("lost:1@soon")]
    [InlineData("lost:1@1s+0s")]
    [InlineData("xid:1@1s#abc")]
    public void Parse_Malformed_ThrowsFormatExceptionQuotingFault(string text)
    {
        var act = () => SimulatedFaultPlan.Parse(text);
        act.Should().Throw<FormatException>().WithMessage($"*'{text}'*");
    }

    [Fact]
    public void Xid_WithoutCode_DefaultsTo79()
    {
        new SimulatedFault(0, SimulatedFaultKind.Xid, TimeSpan.Zero).Code.Should().Be(79);
    }
}
