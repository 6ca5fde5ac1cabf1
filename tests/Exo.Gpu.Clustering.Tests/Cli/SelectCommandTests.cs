using System.Text.Json;
using Exo.Gpu.Clustering.Cli;
using Exo.Gpu.Clustering.Cli.Commands;
using Exo.Gpu.Clustering.Scheduling;

namespace Exo.Gpu.Clustering.Tests.Cli;

public class SelectCommandTests
{
    [Fact]
    public async Task Select_Default_PrintsOneIndexThatJsonAgreesWith()
    {
        var (code, output, error) = await CliRunner.RunAsync("select", "--backend", "simulated");
        code.Should().Be(0, error);
        var index = int.Parse(output.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        index.Should().BeInRange(0, 7);

        var json = await CliRunner.RunAsync("select", "--backend", "simulated", "--json");
        using var doc = JsonDocument.Parse(json.Out);
        doc.RootElement.GetProperty("backend").GetString().Should().Be("simulated");
        doc.RootElement.GetProperty("strategy").GetString().Should().Be("best-score", "reports use the API's vocabulary");
        doc.RootElement.GetProperty("chosen")[0].GetProperty("index").GetInt32().Should().Be(index);
    }

    [Fact]
    public async Task Select_CountAndUuidFormat_PrintsDistinctUuidsCommaSeparated()
    {
        var (code, output, _) = await CliRunner.RunAsync("select", "--backend", "simulated", "--memory", "20GiB", "--count", "3", "--format", "uuid");
        code.Should().Be(0);
        var uuids = output.Trim().Split(',');
        uuids.Should().HaveCount(3).And.OnlyHaveUniqueItems().And.OnlyContain(u => u.StartsWith("GPU-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Select_NothingFits_ExitCode3WithTheNearestDeviceOnStderr()
    {
        var (code, output, error) = await CliRunner.RunAsync("select", "--backend", "simulated", "--memory", "200GiB");
        code.Should().Be(CliApp.NoDevice);
        output.Should().BeEmpty();
        error.Should().Contain("nothing fits 1 device × 200 GiB").And.Contain("nearest: ").And.Contain("needs 200 GiB, capacity 79.5 GiB");
    }

    [Fact]
    public async Task Select_ExplainJson_ListsEveryDeviceWithVerdictReasonsAndScore()
    {
        var (code, output, error) = await CliRunner.RunAsync("select", "--backend", "simulated", "--explain", "--json", "--faults", "throw:2@0s", "--max-util", "100");
        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        var devices = doc.RootElement.GetProperty("devices").EnumerateArray().ToList();
        devices.Should().HaveCount(8);
        var failing = devices[2];
        failing.GetProperty("eligible").GetBoolean().Should().BeFalse();
        failing.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()).Should().Contain("no telemetry reading yet");
        failing.GetProperty("score").ValueKind.Should().Be(JsonValueKind.Null);
        devices.Where(d => d.GetProperty("chosen").GetBoolean()).Should().ContainSingle()
            .Which.GetProperty("score").GetProperty("total").GetDouble().Should().BeInRange(0, 1);
    }

    [Fact]
    public async Task Select_ExplainTable_NothingFits_ShowsEveryVerdictAndExitCode3()
    {
        var (code, output, _) = await CliRunner.RunAsync("select", "--backend", "simulated", "--explain", "--max-util", "0");
        code.Should().Be(CliApp.NoDevice);
        output.Should().Contain("Verdict").And.Contain("utilization");
    }

    [Fact]
    public async Task Select_TwoChoices_SameSeedSameOutput()
    {
        var first = await CliRunner.RunAsync("select", "--backend", "simulated", "--strategy", "two-choices", "--count", "2", "--seed", "5");
        var second = await CliRunner.RunAsync("select", "--backend", "simulated", "--strategy", "two-choices", "--count", "2", "--seed", "5");
        first.ExitCode.Should().Be(0);
        first.Out.Should().Be(second.Out);
    }

    [Fact]
    public async Task Select_Exclude_NeverPicksExcludedDevices()
    {
        var (code, output, _) = await CliRunner.RunAsync("select", "--backend", "simulated", "--exclude", "0,1,2,3,4,5", "--count", "2");
        code.Should().Be(0);
        output.Trim().Split(',').Select(int.Parse).Order().Should().Equal(6, 7);
    }

    [Theory]
    [InlineData("--memory=20parsecs", "--memory")]
    [InlineData("--memory=-5GiB", "--memory")]
    [InlineData("--count=0", "--count")]
    [InlineData("--exclude=0,x", "--exclude")]
    [InlineData("--exclude=0,1,2,3,4,5,6,7", "--exclude")]
    [InlineData("--exclude=12", "--exclude")]
    [InlineData("--strategy=fastest", "--strategy")]
    [InlineData("--format=pci", "--format")]
    [InlineData("--max-util=101", "--max-util")]
    [InlineData("--max-temp=hot", "--max-temp")]
    [InlineData("--explain=yes", "--explain")]
    public async Task Select_BadArgument_ExitCode2NamingIt(string arg, string named)
    {
        var (code, _, error) = await CliRunner.RunAsync("select", "--backend", "simulated", arg);
        code.Should().Be(CliApp.BadArguments);
        error.Should().Contain(named);
    }

    [Theory]
    [InlineData("20GiB", 20L << 30)]
    [InlineData("20g", 20L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("1.5GB", 1_500_000_000L)]
    [InlineData("1 TiB", 1L << 40)]
    [InlineData("100", 100L)]
    [InlineData("4KB", 4000L)]
    public void ParseSize_Units(string text, long bytes) => SelectCommand.ParseSize(text, "--memory").Should().Be(bytes);
}

public class StrategyNameTests
{
    [Theory]
    [InlineData("best-score", GpuSelectionStrategy.BestScore)]
    [InlineData("most-free-memory", GpuSelectionStrategy.MostFreeMemory)]
    [InlineData("least-utilized", GpuSelectionStrategy.LeastUtilized)]
    [InlineData("best-fit", GpuSelectionStrategy.BestFit)]
    [InlineData("round-robin", GpuSelectionStrategy.RoundRobin)]
    [InlineData("random-top-k", GpuSelectionStrategy.RandomTopK)]
    [InlineData("power-of-two-choices", GpuSelectionStrategy.PowerOfTwoChoices)]
    [InlineData("best", GpuSelectionStrategy.BestScore)]
    [InlineData("most-free", GpuSelectionStrategy.MostFreeMemory)]
    [InlineData("least-used", GpuSelectionStrategy.LeastUtilized)]
    [InlineData("two-choices", GpuSelectionStrategy.PowerOfTwoChoices)]
    public void Parse_NameOrAlias_Strategy(string name, GpuSelectionStrategy expected) =>
        StrategyNames.Parse(name).Should().Be(expected);

    [Fact]
    public void Of_EveryStrategy_KebabCaseOfTheApiNameThatParsesBack()
    {
        foreach (var strategy in Enum.GetValues<GpuSelectionStrategy>())
        {
            var name = StrategyNames.Of(strategy);
            name.Replace("-", string.Empty, StringComparison.Ordinal).Should().BeEquivalentTo(strategy.ToString());
            StrategyNames.Parse(name).Should().Be(strategy);
        }
    }

    [Fact]
    public async Task Select_AliasGiven_ReportsTheFullName()
    {
        var (code, output, error) = await CliRunner.RunAsync("select", "--backend", "simulated", "--json", "--strategy", "two-choices", "--seed", "5");
        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("strategy").GetString().Should().Be("power-of-two-choices");
    }
}
