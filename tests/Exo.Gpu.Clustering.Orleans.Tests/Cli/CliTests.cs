using System.Text.Json;
using Exo.Gpu.Clustering.Orleans.Cli;

namespace Exo.Gpu.Clustering.Orleans.Tests.Cli;

/// <summary><c>exo-gpu-cluster</c>: real silos on loopback TCP, in this process.</summary>
public class CliTests
{
    [Fact]
    public async Task Simulate_ThreeHostsOneKilled_EveryJobCompletesWithTheInvariants()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await ClusterCliApp.RunAsync(["simulate", "--hosts", "3", "--devices-per-host", "2", "--jobs", "40", "--seed", "7", "--json"], output, error, CancellationToken.None)
            .WaitAsync(TimeSpan.FromMinutes(2));

        exit.Should().Be(0, error.ToString());
        using var json = JsonDocument.Parse(output.ToString());
        var root = json.RootElement;
        root.GetProperty("jobsCompleted").GetInt32().Should().Be(40);
        var leases = root.GetProperty("leases");
        leases.GetProperty("granted").GetInt32().Should().Be(40 + root.GetProperty("jobsRequeued").GetInt32());
        leases.GetProperty("granted").GetInt32().Should().Be(leases.GetProperty("released").GetInt32() + leases.GetProperty("revoked").GetInt32() + leases.GetProperty("expired").GetInt32());
        root.GetProperty("oversubscriptions").GetInt32().Should().Be(0);
        root.GetProperty("lostHost").GetProperty("id").GetString().Should().BeOneOf("host-1", "host-2");
        root.GetProperty("lostHost").GetProperty("detectedAfterMs").GetDouble().Should().BeLessThan(3000);
        root.GetProperty("perHost").GetArrayLength().Should().Be(3);
    }

    [Fact]
    public async Task Bench_SmallRun_ReportsPairsThroughputAndPercentiles()
    {
        using var output = new StringWriter();

        var exit = await ClusterCliApp.RunAsync(["bench", "--hosts", "2", "--callers", "2", "--seconds", "1", "--max-ops", "40"], output, TextWriter.Null, CancellationToken.None)
            .WaitAsync(TimeSpan.FromMinutes(2));

        exit.Should().Be(0);
        output.ToString().Should().MatchRegex(@"^2 host silos \(loopback TCP\), 2 callers via a client, [0-9.]+ s: 40 acquire\+release pairs, [0-9]+/s; pair latency p50 [0-9.]+ ms, p99 [0-9.]+ ms");
    }

    [Theory]
    [InlineData("--hosts", "1", "--hosts must be an integer from 2 to 16, got '1'")]
    [InlineData("--jobs", "x", "--jobs must be an integer from 1 to 100000, got 'x'")]
    [InlineData("--bogus", "1", "unknown option --bogus")]
    public async Task Simulate_BadArgument_Exit2NamingIt(string name, string value, string message)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await ClusterCliApp.RunAsync(["simulate", name, value], output, error, CancellationToken.None);

        exit.Should().Be(2);
        error.ToString().Should().StartWith($"exo-gpu-cluster: {message}");
    }

    [Fact]
    public async Task Help_AnyCommand_Exit0WithUsage()
    {
        using var output = new StringWriter();

        (await ClusterCliApp.RunAsync(["status", "--help"], output, TextWriter.Null, CancellationToken.None)).Should().Be(0);

        output.ToString().Should().Contain("exo-gpu-cluster simulate").And.Contain("exo-gpu-cluster status");
    }
}
