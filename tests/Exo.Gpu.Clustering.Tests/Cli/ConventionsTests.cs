using System.Text.Json;
using Exo.Gpu.Clustering.Cli;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary>The conventions of the field: colour switches, JSON lines from watch, health reasons, exit 3 for too few devices.</summary>
public class ConventionsTests
{
    private const string Escape = "\u001b[";

    private static async Task<(int ExitCode, string Out, string Error)> RunAsync(Func<string, string?> environment, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var context = new CliContext(output, error, new FakeTimeProvider(CliRunner.Start), interactive: false) { Environment = environment };
        var code = await CliApp.RunAsync(args, context, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Color_ForcedOnWhenPiped_NoColorAndDefaultPlain()
    {
        var colored = await CliRunner.RunAsync("--color", "status", "--backend", "simulated");
        var after = await CliRunner.RunAsync("status", "--backend", "simulated", "--color");
        var plain = await CliRunner.RunAsync("status", "--backend", "simulated", "--no-color");
        var piped = await CliRunner.RunAsync("status", "--backend", "simulated");

        colored.ExitCode.Should().Be(0, colored.Error);
        colored.Out.Should().Contain(Escape).And.Contain("Healthy");
        after.Out.Should().Be(colored.Out);
        plain.Out.Should().NotContain(Escape).And.Contain("Healthy");
        piped.Out.Should().Be(plain.Out);
    }

    [Fact]
    public async Task Color_NoColorVariable_OffUnlessForced()
    {
        string? NoColor(string name) => name == "NO_COLOR" ? "1" : CliRunner.IsolatedEnvironment(name);

        var context = new CliContext(TextWriter.Null, TextWriter.Null, TimeProvider.System, interactive: true) { Environment = NoColor };
        var forced = await RunAsync(NoColor, "--color", "status", "--backend", "simulated");

        context.UsesColor.Should().BeFalse("NO_COLOR turns colours off even on a terminal");
        new CliContext(TextWriter.Null, TextWriter.Null, TimeProvider.System, interactive: true) { Environment = _ => null }.UsesColor.Should().BeTrue();
        forced.Out.Should().Contain(Escape, "--color wins over NO_COLOR");
    }

    [Fact]
    public async Task Color_BothSwitches_ExitCode2()
    {
        var (code, _, error) = await CliRunner.RunAsync("--color", "status", "--no-color");

        code.Should().Be(2);
        error.Should().Contain("--color").And.Contain("--no-color");
    }

    [Fact]
    public async Task WatchJson_Count2_TwoParseableLinesOneRefreshApart()
    {
        var time = new FakeTimeProvider(CliRunner.Start);
        using var output = new LineSignallingWriter();
        var run = CliRunner.RunAsync(time, output, false, ["watch", "--json", "--count", "2", "--interval", "1s", "--devices", "3", "--backend", "simulated"], CancellationToken.None);
        await output.Flushes.WaitAsync(TimeSpan.FromSeconds(30));
        time.Advance(TimeSpan.FromSeconds(1));

        var (code, text, error) = await run.WaitAsync(TimeSpan.FromSeconds(30));

        code.Should().Be(0, error);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().HaveCount(2);
        for (var i = 0; i < 2; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            doc.RootElement.GetProperty("refresh").GetInt32().Should().Be(i + 1);
            doc.RootElement.GetProperty("timestamp").GetString().Should().Be(i == 0 ? "2026-01-01T00:00:00.000Z" : "2026-01-01T00:00:01.000Z");
            doc.RootElement.GetProperty("backend").GetString().Should().Be("simulated");
            doc.RootElement.GetProperty("cluster").GetProperty("deviceCount").GetInt32().Should().Be(3);
            doc.RootElement.GetProperty("devices").GetArrayLength().Should().Be(3);
        }
    }

    [Fact]
    public async Task HotDevice_ReasonInTableJsonAndExplain()
    {
        string[] hot = ["--backend", "simulated", "--devices", "4", "--faults", "hot:1@0s"];

        var table = await CliRunner.RunAsync(["status", .. hot]);
        var json = await CliRunner.RunAsync(["status", "--json", .. hot]);
        var explain = await CliRunner.RunAsync(["select", "--explain", .. hot]);
        var explainJson = await CliRunner.RunAsync(["select", "--explain", "--json", .. hot]);

        table.Out.Should().Contain("Reason").And.Contain("hardware slowdown");
        using var doc = JsonDocument.Parse(json.Out);
        var devices = doc.RootElement.GetProperty("devices");
        var reason = devices[1].GetProperty("reason").GetString();
        reason.Should().Contain("hardware slowdown").And.Contain("HwThermalSlowdown");
        devices[0].TryGetProperty("reason", out _).Should().BeFalse("a Healthy device has no reason");
        explain.ExitCode.Should().Be(0, explain.Error);
        explain.Out.Should().Contain("hardware slowdown");
        using var verdicts = JsonDocument.Parse(explainJson.Out);
        var hotVerdict = verdicts.RootElement.GetProperty("devices")[1];
        hotVerdict.GetProperty("healthReason").GetString().Should().Be(reason);
        hotVerdict.GetProperty("reasons").EnumerateArray().Select(r => r.GetString()).Should().Contain(r => r!.StartsWith("health ", StringComparison.Ordinal) && r.Contains(reason!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Select_CountBeyondTheDevices_ExitCode3NotEnoughDevices()
    {
        var (code, output, error) = await CliRunner.RunAsync("select", "--count", "9", "--backend", "simulated");

        code.Should().Be(3);
        output.Should().BeEmpty();
        error.Should().Be("exo-gpu select: not enough devices: the request asks for 9 devices, but the cluster has 8.\n");
    }

    /// <summary>Captures output and signals each flush (watch flushes once per refresh).</summary>
    private sealed class LineSignallingWriter : StringWriter
    {
        public SemaphoreSlim Flushes { get; } = new(0);

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes.Release();
            return Task.CompletedTask;
        }
    }
}
