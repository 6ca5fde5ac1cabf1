using System.Text.RegularExpressions;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Cli;

public partial class WatchCommandTests
{
    private static CancellationToken Guard() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    [GeneratedRegex(@"refresh (\d+)(/\d+)? at (\S+ \S+)")]
    private static partial Regex RefreshLine();

    /// <summary>Captures output and signals each flush (the watch command flushes once per refresh when redirected).</summary>
    private sealed class FlushSignallingWriter : StringWriter
    {
        public SemaphoreSlim Flushes { get; } = new(0);

        public override void Flush()
        {
            base.Flush();
            Flushes.Release();
        }

        public override Task FlushAsync()
        {
            Flush();
            return Task.CompletedTask;
        }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flush();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Watch_Count3_PrintsThreeTablesOneIntervalApart()
    {
        var time = new FakeTimeProvider(CliRunner.Start);
        using var output = new FlushSignallingWriter();
        var run = CliRunner.RunAsync(time, output, false, ["watch", "--count", "3", "--interval", "2s", "--devices", "4"], CancellationToken.None);
        for (var refresh = 1; refresh < 3; refresh++)
        {
            await output.Flushes.WaitAsync(Guard());
            time.Advance(TimeSpan.FromSeconds(2));
        }

        var (code, text, error) = await run.WaitAsync(Guard());
        code.Should().Be(0, error);
        var refreshes = RefreshLine().Matches(text).Select(m => (m.Groups[1].Value, m.Groups[2].Value, m.Groups[3].Value)).ToList();
        refreshes.Should().Equal(
            ("1", "/3", "2026-01-01 00:00:00Z"),
            ("2", "/3", "2026-01-01 00:00:02Z"),
            ("3", "/3", "2026-01-01 00:00:04Z"));
        Regex.Matches(text, "NVIDIA H100 80GB HBM3").Should().HaveCount(12, "four devices in each of three tables");
        Regex.Matches(text, "Healthy").Should().HaveCount(12);
        text.Should().Contain("4/4 devices fresh");
    }

    [Fact]
    public async Task Watch_CtrlC_StopsWithExitCode0()
    {
        var time = new FakeTimeProvider(CliRunner.Start);
        using var output = new FlushSignallingWriter();
        using var ctrlC = new CancellationTokenSource();
        var run = CliRunner.RunAsync(time, output, false, ["watch", "--interval", "1s"], ctrlC.Token);
        await output.Flushes.WaitAsync(Guard());
        time.Advance(TimeSpan.FromSeconds(1));
        await output.Flushes.WaitAsync(Guard());
        await ctrlC.CancelAsync();

        var (code, text, _) = await run.WaitAsync(Guard());
        code.Should().Be(0);
        RefreshLine().Matches(text).Should().HaveCount(2);
        text.Should().Contain("refresh 2 at", "without --count the refreshes are not numbered out of a total");
    }

    [Fact]
    public async Task Watch_Faults_HealthJudgedByTelemetryRules()
    {
        var time = new FakeTimeProvider(CliRunner.Start);
        using var output = new FlushSignallingWriter();
        var (code, text, error) = await CliRunner.RunAsync(time, output, false, ["watch", "--count", "1", "--devices", "4", "--faults", "hot:1@0s,ecc:2@0s,lost:3@0s"], Guard());
        code.Should().Be(0, error);
        var rows = text.Split('\n').Where(l => l.Contains("GPU-", StringComparison.Ordinal)).ToList();
        rows.Should().HaveCount(3, "discovery does not list the lost device");
        rows[0].Should().Contain("Healthy");
        rows[1].Should().Contain("Degraded", "the hot device reports a hardware thermal slowdown");
        rows[2].Should().Contain("Unhealthy", "uncorrected ECC errors");
        text.Should().Contain("3/3 devices fresh");
    }

    [Fact]
    public async Task Watch_Interactive_RendersLiveAndEnds()
    {
        var time = new FakeTimeProvider(CliRunner.Start);
        using var output = new StringWriter();
        var (code, text, error) = await CliRunner.RunAsync(time, output, true, ["watch", "--count", "1", "--devices", "2"], Guard());
        code.Should().Be(0, error);
        text.Should().Contain("refresh 1/1").And.Contain("Healthy");
    }

    [Theory]
    [InlineData("--interval", "0s", "--interval")]
    [InlineData("--interval", "50ms", "--interval")]
    [InlineData("--interval", "soon", "--interval")]
    [InlineData("--interval", "2h", "--interval")]
    [InlineData("--count", "0", "--count")]
    [InlineData("--count", "-1", "--count")]
    [InlineData("--devices", "0", "--devices")]
    [InlineData("--bogus", "1", "--bogus")]
    public async Task Watch_BadArgument_ExitCode2NamingIt(string option, string value, string named)
    {
        var (code, _, error) = await CliRunner.RunAsync("watch", option, value);
        code.Should().Be(2);
        error.Should().Contain(named);
    }
}
