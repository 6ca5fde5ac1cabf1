using System.Text.Json;

namespace Exo.Gpu.Clustering.Tests.Cli;

public class PlanCommandTests
{
    [Fact]
    public async Task Plan_WeightsJson_ExactContractShape()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--items", "10", "--weights", "1,1,1", "--json");
        code.Should().Be(0, error);
        output.TrimEnd().Should().Be("""{"method":"hamilton","counts":[4,3,3],"unassigned":0}""");
    }

    [Theory]
    [InlineData("hamilton", "[5,1,1,1,1,1,0,0,0,0,0]")]
    [InlineData("webster", "[6,1,1,1,1,0,0,0,0,0,0]")]
    [InlineData("dhondt", "[10,0,0,0,0,0,0,0,0,0,0]")]
    public async Task Plan_Methods_PublishedExample(string method, string counts)
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--items", "10", "--weights", "11,1,1,1,1,1,1,1,1,1,1", "--method", method, "--json");
        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("method").GetString().Should().Be(method);
        doc.RootElement.GetProperty("counts").GetRawText().Should().Be(counts);
        doc.RootElement.GetProperty("unassigned").GetInt64().Should().Be(0);
    }

    [Fact]
    public async Task Plan_ByMemoryHeterogeneous_CountsFollowMemory()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--backend", "simulated", "--items", "368", "--by", "memory", "--profile", "heterogeneous", "--json");
        code.Should().Be(0, error);
        output.TrimEnd().Should().Be("""{"method":"hamilton","counts":[80,40,48,16,80,40,48,16],"unassigned":0,"backend":"simulated"}""");
    }

    [Fact]
    public async Task Plan_ByCompute_L40SGetsMostAndT4Least()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--backend", "simulated", "--items", "1000", "--by", "compute", "--profile", "heterogeneous", "--devices", "4", "--json");
        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        var counts = doc.RootElement.GetProperty("counts").EnumerateArray().Select(c => c.GetInt64()).ToArray();
        // 132x1980 : 108x1410 : 142x2520 : 40x1590 = 261360 : 152280 : 357840 : 63600 of 835080.
        counts.Should().Equal(313, 182, 429, 76);
    }

    [Fact]
    public async Task Plan_ByUniform_DeviceCountFromBackend()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--backend", "simulated", "--items", "7", "--by", "uniform", "--devices", "4", "--json");
        code.Should().Be(0, error);
        output.Should().Contain("\"counts\":[2,2,2,1]");
    }

    [Fact]
    public async Task Plan_CapsTooSmall_ExitCode2NamingCaps()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--items", "10", "--weights", "1,1,1", "--caps", "2,2,2");
        code.Should().Be(2);
        output.Should().BeEmpty();
        error.Should().Contain("--caps").And.Contain("hold 6 of the 10 items").And.Contain("--allow-unassigned");
    }

    [Fact]
    public async Task Plan_CapsTooSmallAllowUnassigned_ReportsUnassigned()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--items", "10", "--weights", "1,1,1", "--caps", "2,2,2", "--allow-unassigned", "--json");
        code.Should().Be(0, error);
        output.TrimEnd().Should().Be("""{"method":"hamilton","counts":[2,2,2],"unassigned":4}""");
    }

    [Fact]
    public async Task Plan_MinimumForEveryDevice_Applied()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--items", "10", "--weights", "0,1,8", "--min", "2", "--json");
        code.Should().Be(0, error);
        output.Should().Contain("\"counts\":[2,2,6]");
    }

    [Fact]
    public async Task Plan_Table_ShowsCountsRangesAndUnassigned()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--items", "10", "--weights", "1,1,1", "--caps", "2,5,5", "--method", "webster");
        code.Should().Be(0, error);
        output.Should().Contain("plan: webster, 10 items over 3 devices (weights)");
        output.Should().Contain("[0, 2)").And.Contain("[2, 6)").And.Contain("[6, 10)");
        output.Should().NotContain("unassigned:");

        var partial = await CliRunner.RunAsync("plan", "--items", "10", "--weights", "1,1,1", "--caps", "2,2,2", "--allow-unassigned");
        partial.ExitCode.Should().Be(0);
        partial.Out.Should().Contain("unassigned: 4 (the caps hold 6 of the 10 items)");
    }

    [Fact]
    public async Task Plan_TableByMemory_NamesDevicesAndGiB()
    {
        var (code, output, error) = await CliRunner.RunAsync("plan", "--backend", "simulated", "--items", "100", "--by", "memory", "--profile", "heterogeneous", "--devices", "2");
        code.Should().Be(0, error);
        output.Should().Contain("by memory, simulated backend").And.Contain("NVIDIA H100 80GB HBM3").And.Contain("80.0 GiB").And.Contain("66.7 %");
    }

    [Fact]
    public async Task Plan_SameArguments_SameOutput()
    {
        var first = await CliRunner.RunAsync("plan", "--backend", "simulated", "--items", "1000", "--by", "compute", "--profile", "heterogeneous", "--seed", "3");
        var second = await CliRunner.RunAsync("plan", "--backend", "simulated", "--items", "1000", "--by", "compute", "--profile", "heterogeneous", "--seed", "3");
        first.Out.Should().Be(second.Out);
    }

    [Theory]
    [InlineData("--items is required", "--weights", "1,1")]
    [InlineData("--items", "--items", "-3", "--weights", "1,1")]
    [InlineData("--items", "--items", "ten", "--weights", "1,1")]
    [InlineData("--items", "--items", "9007199254740993", "--weights", "1,1")]
    [InlineData("--weights", "--items", "3")]
    [InlineData("--by", "--items", "3", "--weights", "1,1", "--by", "memory")]
    [InlineData("--weights", "--items", "3", "--weights", "1,x")]
    [InlineData("--weights", "--items", "3", "--weights", "1,-1")]
    [InlineData("--weights", "--items", "3", "--weights", "1,NaN")]
    [InlineData("--weights", "--items", "3", "--weights", "0,0")]
    [InlineData("--weights", "--items", "3", "--weights", "")]
    [InlineData("--by", "--items", "3", "--by", "bandwidth")]
    [InlineData("--method", "--items", "3", "--weights", "1,1", "--method", "jefferson")]
    [InlineData("--caps", "--items", "3", "--weights", "1,1", "--caps", "1,1,1")]
    [InlineData("--caps", "--items", "3", "--weights", "1,1", "--caps", "2,-1")]
    [InlineData("--caps", "--items", "3", "--weights", "1,1", "--caps", "2,two")]
    [InlineData("--min", "--items", "3", "--weights", "1,1", "--min", "2")]
    [InlineData("--min", "--items", "3", "--weights", "1,1", "--min", "-1")]
    [InlineData("--min", "--items", "4", "--weights", "1,1", "--min", "2", "--caps", "1,5")]
    [InlineData("--devices", "--items", "3", "--weights", "1,1", "--devices", "4")]
    [InlineData("--profile", "--items", "3", "--weights", "1,1", "--profile", "heterogeneous")]
    [InlineData("--devices", "--items", "3", "--by", "memory", "--devices", "0")]
    [InlineData("--allow-unassigned", "--items", "3", "--weights", "1,1", "--allow-unassigned=yes")]
    public async Task Plan_BadArgument_ExitCode2NamingIt(string named, params string[] args)
    {
        var (code, output, error) = await CliRunner.RunAsync(["plan", .. args]);
        code.Should().Be(2, error);
        output.Should().BeEmpty();
        error.Should().StartWith("exo-gpu plan: ").And.Contain(named.Split(' ')[0]);
    }

    [Fact]
    public async Task Help_ListsPlan()
    {
        var (code, output, _) = await CliRunner.RunAsync("--help");
        code.Should().Be(0);
        output.Should().Contain("plan");
    }
}
