using System.Text.Json;

namespace Exo.Gpu.Clustering.Tests.Cli;

public class StatusCommandTests
{
    [Fact]
    public async Task Status_Json_HasContractShape()
    {
        var (code, output, error) = await CliRunner.RunAsync("status", "--json");
        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        root.GetProperty("backend").GetString().Should().Be("simulated");
        var devices = root.GetProperty("devices").EnumerateArray().ToList();
        devices.Should().HaveCount(8);
        foreach (var (device, i) in devices.Select((d, i) => (d, i)))
        {
            device.GetProperty("index").GetInt32().Should().Be(i);
            device.GetProperty("uuid").GetString().Should().StartWith("GPU-");
            device.GetProperty("name").GetString().Should().NotBeNullOrEmpty();
            device.GetProperty("memoryUsedBytes").GetInt64().Should().BeGreaterThan(0);
            device.GetProperty("memoryTotalBytes").GetInt64().Should().Be(80L << 30);
            device.GetProperty("utilizationPercent").GetDouble().Should().BeInRange(0, 100);
            device.GetProperty("temperatureC").GetDouble().Should().BeInRange(0, 120);
            device.GetProperty("powerW").GetDouble().Should().BeGreaterThan(0);
            device.GetProperty("health").GetString().Should().Be("Healthy");
        }
    }

    [Fact]
    public async Task Status_Json_SameSeed_SameOutput()
    {
        var first = await CliRunner.RunAsync("status", "--json", "--seed", "7");
        var second = await CliRunner.RunAsync("status", "--json", "--seed", "7");
        first.Out.Should().Be(second.Out);
    }

    [Fact]
    public async Task Status_LostDevice_JsonHasNullReadingsAndLostHealth()
    {
        var (code, output, _) = await CliRunner.RunAsync("status", "--json", "--faults", "throw:1@0s");
        code.Should().Be(0);
        using var doc = JsonDocument.Parse(output);
        var device = doc.RootElement.GetProperty("devices")[1];
        device.GetProperty("utilizationPercent").ValueKind.Should().Be(JsonValueKind.Null);
        device.GetProperty("memoryUsedBytes").ValueKind.Should().Be(JsonValueKind.Null);
        device.GetProperty("health").GetString().Should().Be("Unknown");
    }

    [Fact]
    public async Task Status_Table_HeaderNamesBackend()
    {
        var (code, output, _) = await CliRunner.RunAsync("status");
        code.Should().Be(0);
        output.Should().Contain("backend: simulated").And.Contain("auto");
        output.Should().Contain("NVIDIA H100 80GB HBM3").And.Contain("Healthy");
    }

    [Theory]
    [InlineData("--bogus", "--bogus")]
    [InlineData("--backend=cuda", "--backend")]
    [InlineData("--devices=0", "--devices")]
    [InlineData("--devices", "--devices")]
    [InlineData("--faults=melt:1@1s", "--faults")]
    [InlineData("--json=yes", "--json")]
    public async Task Status_BadArgument_ExitCode2NamingIt(string arg, string named)
    {
        var (code, _, error) = await CliRunner.RunAsync("status", arg);
        code.Should().Be(2);
        error.Should().Contain(named);
    }

    [Fact]
    public async Task UnknownCommand_ExitCode2()
    {
        var (code, _, error) = await CliRunner.RunAsync("frobnicate");
        code.Should().Be(2);
        error.Should().Contain("frobnicate");
    }
}

public class StatusTimeoutTests
{
    [Fact]
    public async Task Status_HungDevice_RowSaysNoReadingAfterTimeout()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(CliRunner.Start);
        var run = CliRunner.RunAsync(time, "status", "--json", "--faults", "hang:3@0s");
        run.IsCompleted.Should().BeFalse("device 3 hangs until its timeout");
        time.Advance(TimeSpan.FromSeconds(2));
        var (code, output, error) = await run.WaitAsync(TimeSpan.FromSeconds(30));
        code.Should().Be(0, error);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var device = doc.RootElement.GetProperty("devices")[3];
        device.GetProperty("utilizationPercent").ValueKind.Should().Be(System.Text.Json.JsonValueKind.Null);
        doc.RootElement.GetProperty("devices")[4].GetProperty("utilizationPercent").ValueKind.Should().Be(System.Text.Json.JsonValueKind.Number);
    }
}
