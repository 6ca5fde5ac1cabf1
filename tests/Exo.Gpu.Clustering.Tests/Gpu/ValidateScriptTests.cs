using System.Diagnostics;
using Exo.Gpu.Clustering.Cli;
using Exo.Gpu.Clustering.Tests.Backends.Nvml;

namespace Exo.Gpu.Clustering.Tests.Gpu;

/// <summary>
/// Runs tests/gpu/validate.sh without a GPU: exo-gpu (the apphost next to the tests) reads the fake library, scripted by
/// an EXO_FAKE_GPU_CONFIG file, and NVIDIA_SMI names a shell shim that prints what nvidia-smi would.
/// </summary>
[Collection(FakeGpuTests.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ValidateScriptTests : IDisposable
{
    private const string Config = """
        devices 2
        set 0 memory.used 1073741824
        set 0 utilization.gpu 37
        set 0 temperature 41
        set 0 power.mw 123450
        set 1 uuid GPU-8f6c0b8e-1d2a-4b5c-9e7f-0123456789ab
        set 1 name NVIDIA A100-SXM4-40GB
        set 1 memory.total 42949672960
        set 1 memory.used 536870912
        inject nvmlDeviceGetPowerUsage 1 3 0 -1
        """;

    private const string Matching = """
        GPU-8f6c0b8e-1d2a-4b5c-9e7f-0123456789ab, NVIDIA A100-SXM4-40GB, 40960, 520, 0, 35, [N/A]
        GPU-a0000000-1111-2222-3333-000000000100, NVIDIA H100 80GB HBM3, 81559, 1030, 40, 42, 130.02
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("exo-gpu-validate-").FullName;

    [Fact]
    public async Task ValidateScript_ValuesAgreeWithinTolerance_ExitCode0()
    {
        var (code, output) = await RunAsync(Matching);

        code.Should().Be(0, output);
        output.Should().Contain("PASS: 2 device(s)");
        output.Should().Contain("power.draw").And.Contain("both unavailable");
    }

    [Theory]
    [InlineData("NVIDIA A100-SXM4-40GB, 40960", "NVIDIA A100-SXM4-80GB, 40960", "name")]
    [InlineData("40960, 520", "40970, 520", "memory.total")]
    [InlineData("81559, 1030", "81559, 1400", "memory.used")]
    [InlineData("1030, 40, 42", "1030, 60, 42", "utilization.gpu")]
    [InlineData("40, 42, 130.02", "40, 46, 130.02", "temperature.gpu")]
    [InlineData("42, 130.02", "42, 170.5", "power.draw")]
    [InlineData("35, [N/A]", "35, 61.2", "power.draw")]
    public async Task ValidateScript_OneValueDisagrees_ExitCode1NamingIt(string from, string to, string field)
    {
        var (code, output) = await RunAsync(Matching.Replace(from, to, StringComparison.Ordinal));

        code.Should().Be(1, output);
        output.Should().MatchRegex($@"{field.Replace(".", @"\.", StringComparison.Ordinal)}\s+exo-gpu=.*MISMATCH");
        output.Should().Contain("FAIL: 1 check(s) failed");
    }

    [Fact]
    public async Task ValidateScript_NvidiaSmiListsAnotherDevice_ExitCode1()
    {
        var (code, output) = await RunAsync(Matching + "\nGPU-ffffffff-0000-0000-0000-000000000000, NVIDIA L4, 23034, 0, 0, 30, 20.0");

        code.Should().Be(1, output);
        output.Should().Contain("exo-gpu does not list this device").And.Contain("device count: exo-gpu 2, nvidia-smi 3");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private async Task<(int Code, string Output)> RunAsync(string smiOutput)
    {
        var config = Path.Combine(_directory, "fake.conf");
        var shim = Path.Combine(_directory, "nvidia-smi");
        await File.WriteAllTextAsync(config, Config);
        await File.WriteAllTextAsync(shim, $"#!/bin/sh\ncat <<'EOF'\n{smiOutput}\nEOF\n");
        File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var start = new ProcessStartInfo("bash", [FindScript(), Path.Combine(AppContext.BaseDirectory, "exo-gpu")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["EXO_FAKE_GPU_CONFIG"] = config;
        start.Environment[BackendChoice.NvmlPathVariable] = FakeGpuLibrary.Main.Path;
        start.Environment[BackendChoice.CudaPathVariable] = FakeGpuLibrary.Main.Path;
        start.Environment["NVIDIA_SMI"] = shim;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(NvmlTestContext.Guard);
        return (process.ExitCode, await output + await error);
    }

    private static string FindScript()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var script = Path.Combine(directory.FullName, "tests", "gpu", "validate.sh");
            if (File.Exists(script))
            {
                return script;
            }
        }

        throw new FileNotFoundException("tests/gpu/validate.sh not found above " + AppContext.BaseDirectory);
    }
}
