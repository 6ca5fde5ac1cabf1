using System.Text.Json;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary><c>exo-gpu status</c> judges health with the telemetry collector's rules, not "the reading succeeded".</summary>
public class StatusHealthTests
{
    private static async Task<string[]> HealthsAsync(string faults)
    {
        var (code, output, error) = await CliRunner.RunAsync("status", "--json", "--devices", "4", "--faults", faults);
        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        return [.. doc.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("health").GetString()!)];
    }

    [Fact]
    public async Task Status_HotDevice_NotHealthy()
    {
        var healths = await HealthsAsync("hot:1@0s");
        healths[0].Should().Be("Healthy");
        healths[1].Should().BeOneOf("Degraded", "Unhealthy");
    }

    [Fact]
    public async Task Status_UncorrectedEcc_Unhealthy()
    {
        var healths = await HealthsAsync("ecc:2@0s");
        healths.Should().Equal("Healthy", "Healthy", "Unhealthy", "Healthy");
    }

    [Fact]
    public async Task Status_ThrowingDevice_Unknown()
    {
        var healths = await HealthsAsync("throw:3@0s");
        healths[3].Should().Be("Unknown");
    }
}
