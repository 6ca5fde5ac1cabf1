using System.Text.Json;
using Exo.Gpu.Clustering.Tests.Backends.Nvml;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary><c>exo-gpu status</c> with <c>--backend nvml|auto</c>, pointed at the fake library through EXO_GPU_NVML_PATH.</summary>
[Collection(FakeGpuTests.Name)]
public class StatusNvmlTests
{
    private const string MissingPath = "/nonexistent/exo-gpu-test/libnvidia-ml.so.1";

    [Fact]
    public async Task Status_BackendNvml_ReportsTheFakeDevices()
    {
        FakeGpuLibrary.Main.Reset(3);
        FakeGpuLibrary.Main.Set(2, "utilization.gpu", 64);
        FakeGpuLibrary.Main.Inject("nvmlDeviceGetTemperatureV", 1, FakeGpuLibrary.NotSupported);

        var (code, output, error) = await RunAsync(FakeGpuLibrary.Main.Path, "status", "--json", "--backend", "nvml");

        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("backend").GetString().Should().Be("nvml");
        var devices = doc.RootElement.GetProperty("devices").EnumerateArray().ToList();
        devices.Select(d => d.GetProperty("uuid").GetString()).Should().Equal(
            FakeGpuLibrary.DefaultUuid(0), FakeGpuLibrary.DefaultUuid(1), FakeGpuLibrary.DefaultUuid(2));
        devices[2].GetProperty("utilizationPercent").GetDouble().Should().Be(64);
        devices[0].GetProperty("memoryUsedBytes").GetInt64().Should().Be(1L << 30);
        devices[0].GetProperty("powerW").GetDouble().Should().Be(70);
        devices[1].GetProperty("temperatureC").ValueKind.Should().Be(JsonValueKind.Null, "not supported is null, not an error");
        devices.Should().OnlyContain(d => d.GetProperty("health").GetString() == "Healthy");
    }

    [Fact]
    public async Task Status_BackendNvmlLostDevice_RowSaysLost()
    {
        FakeGpuLibrary.Main.Reset(2);
        FakeGpuLibrary.Main.Inject("nvmlDeviceGetPowerUsage", 1, FakeGpuLibrary.GpuIsLost);

        var (code, output, _) = await RunAsync(FakeGpuLibrary.Main.Path, "status", "--json", "--backend", "nvml");

        code.Should().Be(0);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("devices")[1].GetProperty("health").GetString().Should().Be("Lost");
    }

    [Fact]
    public async Task Status_BackendNvmlMissing_ExitCode3NamingThePath()
    {
        var (code, output, error) = await RunAsync(MissingPath, "status", "--backend", "nvml");

        code.Should().Be(3);
        output.Should().BeEmpty();
        error.Should().Contain(MissingPath).And.Contain("could not be loaded");
    }

    [Fact]
    public async Task Status_AutoWithoutNvml_FallsBackAndSaysSo()
    {
        var table = await RunAsync(MissingPath, "status");
        var json = await RunAsync(MissingPath, "status", "--json");

        table.ExitCode.Should().Be(0);
        table.Out.Should().Contain("backend: simulated").And.Contain("auto: NVML unavailable");
        table.Error.Should().Contain("NVML unavailable, showing the simulated cluster").And.Contain(MissingPath);
        json.Error.Should().Contain(MissingPath);
        using var doc = JsonDocument.Parse(json.Out);
        doc.RootElement.GetProperty("backend").GetString().Should().Be("simulated");
        doc.RootElement.GetProperty("fallbackReason").GetString().Should().Contain(MissingPath);
    }

    [Fact]
    public async Task Status_AutoWithFakeNvml_UsesIt()
    {
        FakeGpuLibrary.Main.Reset(1);

        var (code, output, _) = await RunAsync(FakeGpuLibrary.Main.Path, "status");

        code.Should().Be(0);
        output.Should().Contain("backend: nvml (auto: NVML found)").And.Contain(FakeGpuLibrary.DefaultUuid(0));
    }

    [Fact]
    public async Task Status_BackendNvmlWithoutDevices_ExitCode3()
    {
        FakeGpuLibrary.Main.Reset(0);

        var (code, _, error) = await RunAsync(FakeGpuLibrary.Main.Path, "status", "--backend", "nvml");

        code.Should().Be(3);
        error.Should().Contain("nvml backend found no device");
    }

    private static Task<(int ExitCode, string Out, string Error)> RunAsync(string nvmlPath, params string[] args) =>
        NvmlCliRunner.RunAsync(nvmlPath, args);
}
