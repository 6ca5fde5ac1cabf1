using System.Text.Json;

namespace Exo.Gpu.Clustering.Tests.Cli;

public class SimulateCommandTests
{
    [Fact]
    public async Task Simulate_SameSeedTwice_SameReportByteForByte()
    {
        var first = await CliRunner.RunAsync("simulate", "--seed", "1", "--json");
        var second = await CliRunner.RunAsync("simulate", "--seed", "1", "--json");
        first.ExitCode.Should().Be(0, first.Error);
        second.Out.Should().Be(first.Out);
    }

    [Fact]
    public async Task Simulate_OtherSeed_OtherReport()
    {
        var first = await CliRunner.RunAsync("simulate", "--seed", "1", "--json", "--jobs", "60");
        var second = await CliRunner.RunAsync("simulate", "--seed", "2", "--json", "--jobs", "60");
        second.Out.Should().NotBe(first.Out);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public async Task Simulate_Json_AccountsForEveryJobAndLease(int seed)
    {
        var (code, output, error) = await CliRunner.RunAsync("simulate", "--seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json", "--jobs", "120");
        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        var completed = root.GetProperty("jobsCompleted").GetInt32();
        var failed = root.GetProperty("jobsFailed").GetInt32();
        var unfinished = root.GetProperty("jobsUnfinished").GetInt32();
        (completed + failed + unfinished).Should().Be(120);
        unfinished.Should().Be(0);
        var leases = root.GetProperty("leases");
        leases.GetProperty("granted").GetInt64().Should().Be(leases.GetProperty("released").GetInt64() + leases.GetProperty("revoked").GetInt64());
        leases.GetProperty("revoked").GetInt64().Should().Be(root.GetProperty("jobsRequeued").GetInt64());

        var devices = root.GetProperty("perDevice").EnumerateArray().ToList();
        devices.Should().HaveCount(8);
        var lostIndex = root.GetProperty("lostDevice").GetProperty("index").GetInt32();
        devices.Where(d => d.GetProperty("lost").GetBoolean()).Select(d => d.GetProperty("index").GetInt32()).Should().Equal(lostIndex);
        devices.Sum(d => d.GetProperty("jobsRun").GetInt32()).Should().BeGreaterThanOrEqualTo(completed);
        foreach (var d in devices)
        {
            var peak = d.GetProperty("peakReservedBytes").GetInt64();
            if (d.GetProperty("jobsRun").GetInt32() > 0)
            {
                peak.Should().BePositive("a device that ran a job had memory reserved");
            }
            else
            {
                peak.Should().Be(0, "a device that ran no job had nothing reserved");
            }

            peak.Should().BeLessThanOrEqualTo(80L << 30, "a lease never reserves more than the device's memory");
            d.GetProperty("meanUtilizationPercent").GetDouble().Should().BeInRange(0, 100);
        }

        var waits = root.GetProperty("waitSeconds");
        waits.GetProperty("p50").GetInt64().Should().BeLessThanOrEqualTo(waits.GetProperty("p95").GetInt64());
        waits.GetProperty("p95").GetInt64().Should().BeLessThanOrEqualTo(waits.GetProperty("max").GetInt64());
    }

    [Fact]
    public async Task Simulate_SingleDevice_NoDeviceLostAndAllJobsComplete()
    {
        var (code, output, _) = await CliRunner.RunAsync("simulate", "--devices", "1", "--jobs", "20", "--json");
        code.Should().Be(0);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("lostDevice").ValueKind.Should().Be(JsonValueKind.Null);
        doc.RootElement.GetProperty("jobsCompleted").GetInt32().Should().Be(20);
    }

    [Fact]
    public async Task Simulate_Table_SummarizesRun()
    {
        var (code, output, _) = await CliRunner.RunAsync("simulate", "--jobs", "30");
        code.Should().Be(0);
        output.Should().Contain("simulated 30 jobs on 8 heterogeneous devices").And.Contain("was lost at").And.Contain("granted =");
    }

    [Theory]
    [InlineData(16)]
    [InlineData(64)]
    [InlineData(256)]
    public async Task Simulate_SameSeedTwiceAtScale_SameReportByteForByte(int devices)
    {
        var args = new[] { "simulate", "--devices", devices.ToString(System.Globalization.CultureInfo.InvariantCulture), "--jobs", "400", "--seed", "3", "--json" };
        var first = await CliRunner.RunAsync(args);
        var second = await CliRunner.RunAsync(args);
        first.ExitCode.Should().Be(0, first.Error);
        using var doc = JsonDocument.Parse(first.Out);
        doc.RootElement.GetProperty("perDevice").GetArrayLength().Should().Be(devices);
        doc.RootElement.GetProperty("jobsCompleted").GetInt32().Should().Be(400);
        var lost = doc.RootElement.GetProperty("lostDevice").GetProperty("index").GetInt32();
        doc.RootElement.GetProperty("perDevice")[lost].GetProperty("lost").GetBoolean().Should().BeTrue("the loss took effect in the run");
        second.Out.Should().Be(first.Out);
    }

    [Fact]
    public async Task Simulate_LoadAboveOne_QueuesLongerThanTheDefault()
    {
        var calm = await CliRunner.RunAsync("simulate", "--jobs", "300", "--json");
        var overloaded = await CliRunner.RunAsync("simulate", "--jobs", "300", "--json", "--load", "2");
        overloaded.ExitCode.Should().Be(0, overloaded.Error);
        static long P95(string json) => JsonDocument.Parse(json).RootElement.GetProperty("waitSeconds").GetProperty("p95").GetInt64();
        P95(overloaded.Out).Should().BeGreaterThan(P95(calm.Out) * 2);
    }

    [Theory]
    [InlineData("--devices=0", "--devices")]
    [InlineData("--devices=1025", "--devices")]
    [InlineData("--jobs=0", "--jobs")]
    [InlineData("--jobs=1000001", "--jobs")]
    [InlineData("--load=0", "--load")]
    [InlineData("--load=x", "--load")]
    [InlineData("--seed=x", "--seed")]
    [InlineData("--profile=mixed", "--profile")]
    public async Task Simulate_BadArgument_ExitCode2NamingIt(string arg, string named)
    {
        var (code, _, error) = await CliRunner.RunAsync("simulate", arg);
        code.Should().Be(2);
        error.Should().Contain(named);
    }
}
