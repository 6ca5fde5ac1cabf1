using System.Text.Json;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Tests.Backends.Nvml;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary><c>status --processes</c> and watch's processes section: pid, user, name, GPU memory, as a table and as JSON.</summary>
[Collection(FakeGpuTests.Name)]
public class ProcessesCliTests
{
    [Fact]
    public async Task StatusProcesses_FakeNvml_ListsItsProcessesWithNameAndUser()
    {
        FakeGpuLibrary.Main.Reset(3);
        var self = Environment.ProcessId;
        NvmlProcessTests.AddProcess(FakeGpuLibrary.Main, 0, 1, self, 5L << 30);
        NvmlProcessTests.AddProcess(FakeGpuLibrary.Main, 0, 2, 999_999_998, ulong.MaxValue); // sorted after ours: pids are listed in order
        FakeGpuLibrary.Main.Inject("nvmlDeviceGetComputeRunningProcesses_v3", 2, FakeGpuLibrary.NotSupported);
        FakeGpuLibrary.Main.Inject("nvmlDeviceGetGraphicsRunningProcesses_v3", 2, FakeGpuLibrary.NotSupported);

        var json = await NvmlCliRunner.RunAsync(FakeGpuLibrary.Main.Path, "status", "--processes", "--json", "--backend", "nvml");
        var table = await NvmlCliRunner.RunAsync(FakeGpuLibrary.Main.Path, "status", "--processes", "--backend", "nvml");

        json.ExitCode.Should().Be(0, json.Error);
        using var doc = JsonDocument.Parse(json.Out);
        var devices = doc.RootElement.GetProperty("devices");
        var processes = devices[0].GetProperty("processes").EnumerateArray().ToList();
        processes.Should().HaveCount(2);
        processes[0].GetProperty("pid").GetInt32().Should().Be(self);
        processes[0].GetProperty("user").GetString().Should().Be(Environment.UserName);
        processes[0].GetProperty("name").GetString().Should().Be(File.ReadAllText($"/proc/{self}/comm").Trim());
        processes[0].GetProperty("type").GetString().Should().Be("C");
        processes[0].GetProperty("usedMemoryBytes").GetInt64().Should().Be(5L << 30);
        processes[1].GetProperty("pid").GetInt32().Should().Be(999_999_998);
        processes[1].GetProperty("type").GetString().Should().Be("G");
        processes[1].GetProperty("usedMemoryBytes").ValueKind.Should().Be(JsonValueKind.Null);
        devices[1].GetProperty("processes").GetArrayLength().Should().Be(0);
        devices[2].GetProperty("processes").ValueKind.Should().Be(JsonValueKind.Null, "the driver cannot list them: not available");

        table.ExitCode.Should().Be(0, table.Error);
        table.Out.Should().Contain("processes").And.Contain(self.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .And.Contain("5120 MiB").And.Contain("no process").And.Contain("not available");
    }

    [Fact]
    public async Task StatusProcesses_Simulated_ListsTheBackgroundProcesses()
    {
        var (code, output, error) = await CliRunner.RunAsync("status", "--processes", "--json", "--backend", "simulated", "--devices", "4");

        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        var pids = doc.RootElement.GetProperty("devices").EnumerateArray()
            .SelectMany(d => d.GetProperty("processes").EnumerateArray())
            .Select(p => (p.GetProperty("pid").GetInt32(), p.GetProperty("name").GetString(), p.GetProperty("user").GetString()))
            .ToList();
        pids.Should().NotBeEmpty().And.OnlyContain(p => p.Item2 == "python3" && p.Item3 == "sim" && (p.Item1 - SimulatedGpuBackend.FirstSimulatedPid) % 16 == 0);
    }

    [Fact]
    public async Task Status_WithoutProcesses_NeverListsThem()
    {
        FakeGpuLibrary.Main.Reset(2);

        var (code, output, _) = await NvmlCliRunner.RunAsync(FakeGpuLibrary.Main.Path, "status", "--json", "--backend", "nvml");

        code.Should().Be(0);
        output.Should().NotContain("\"processes\"");
        FakeGpuLibrary.Main.Calls("nvmlDeviceGetComputeRunningProcesses_v3").Should().Be(0);
    }

    [Fact]
    public async Task WatchProcesses_Json_EachLineCarriesTheProcesses()
    {
        var (code, output, error) = await CliRunner.RunAsync("watch", "--processes", "--json", "--count", "1", "--backend", "simulated", "--devices", "2");

        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("devices").EnumerateArray().Should().OnlyContain(d => d.GetProperty("processes").ValueKind == JsonValueKind.Array);
    }
}
