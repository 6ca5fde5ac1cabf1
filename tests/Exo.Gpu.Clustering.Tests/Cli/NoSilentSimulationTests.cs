using System.Text.Json;
using Exo.Gpu.Clustering.Tests.Backends.Nvml;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary><c>select</c> and <c>plan --by</c> never hand out simulated devices unless asked; the rest say when they fell back.</summary>
[Collection(FakeGpuTests.Name)]
public class NoSilentSimulationTests
{
    private const string Missing = NvmlCliRunner.MissingPath;

    [Fact]
    public async Task Select_NvmlUnavailable_ExitCode3ReasonOnStderrNothingOnStdout()
    {
        var (code, output, error) = await NvmlCliRunner.RunAsync(Missing, "select", "--memory", "20GiB", "--format", "uuid");

        code.Should().Be(3);
        output.Should().BeEmpty();
        error.Should().StartWith("exo-gpu select: no usable NVIDIA GPU: ").And.Contain(Missing).And.Contain("--backend simulated");
    }

    [Fact]
    public async Task Select_BackendSimulated_PrintsASimulatedUuid()
    {
        var (code, output, error) = await NvmlCliRunner.RunAsync(Missing, "select", "--memory", "20GiB", "--format", "uuid", "--backend", "simulated");

        code.Should().Be(0, error);
        output.Trim().Should().MatchRegex("^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
        error.Should().BeEmpty("simulated was asked for: nothing to warn about");
    }

    [Fact]
    public async Task Select_ExplicitAuto_FallsBackAndSaysSoOnStderrAndInJson()
    {
        var (code, output, error) = await NvmlCliRunner.RunAsync(Missing, "select", "--backend", "auto", "--json");

        code.Should().Be(0, error);
        error.Should().Contain("NVML unavailable, showing the simulated cluster").And.Contain(Missing);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("backend").GetString().Should().Be("simulated");
        doc.RootElement.GetProperty("fallbackReason").GetString().Should().Contain(Missing);
    }

    [Fact]
    public async Task Select_FakeNvml_PrintsTheRealDevice()
    {
        FakeGpuLibrary.Main.Reset(2);
        FakeGpuLibrary.Main.Set(0, "memory.used", 70L << 30);

        var (code, output, error) = await NvmlCliRunner.RunAsync(FakeGpuLibrary.Main.Path, "select", "--memory", "20GiB", "--format", "uuid");

        code.Should().Be(0, error);
        output.Trim().Should().Be(FakeGpuLibrary.DefaultUuid(1));
    }

    [Fact]
    public async Task PlanBy_NvmlUnavailable_ExitCode3_WeightsNeedNoBackend()
    {
        var by = await NvmlCliRunner.RunAsync(Missing, "plan", "--items", "10", "--by", "memory", "--json");
        var weights = await NvmlCliRunner.RunAsync(Missing, "plan", "--items", "10", "--weights", "1,1", "--json");
        var simulated = await NvmlCliRunner.RunAsync(Missing, "plan", "--items", "10", "--by", "memory", "--json", "--backend", "simulated");

        by.ExitCode.Should().Be(3);
        by.Out.Should().BeEmpty();
        by.Error.Should().Contain("no usable NVIDIA GPU").And.Contain(Missing);
        weights.ExitCode.Should().Be(0, weights.Error);
        simulated.ExitCode.Should().Be(0, simulated.Error);
        using var doc = JsonDocument.Parse(simulated.Out);
        doc.RootElement.GetProperty("backend").GetString().Should().Be("simulated");
        doc.RootElement.GetProperty("counts").EnumerateArray().Sum(c => c.GetInt64()).Should().Be(10);
    }

    [Fact]
    public async Task StatusAndWatch_NvmlUnavailable_SayOnStderrThatTheyFellBack()
    {
        var status = await NvmlCliRunner.RunAsync(Missing, "status", "--json");
        var watch = await NvmlCliRunner.RunAsync(Missing, "watch", "--count", "1", "--json");

        status.ExitCode.Should().Be(0);
        status.Error.Should().StartWith("exo-gpu status: NVML unavailable, showing the simulated cluster").And.Contain(Missing);
        watch.ExitCode.Should().Be(0);
        watch.Error.Should().StartWith("exo-gpu watch: NVML unavailable, showing the simulated cluster");
        using var doc = JsonDocument.Parse(watch.Out);
        doc.RootElement.GetProperty("fallbackReason").GetString().Should().Contain(Missing);
    }

    [Fact]
    public async Task StatusJson_Nvml_NoFallbackReasonNothingOnStderr()
    {
        FakeGpuLibrary.Main.Reset(1);

        var (code, output, error) = await NvmlCliRunner.RunAsync(FakeGpuLibrary.Main.Path, "status", "--json");

        code.Should().Be(0, error);
        error.Should().BeEmpty();
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("backend").GetString().Should().Be("nvml");
        doc.RootElement.TryGetProperty("fallbackReason", out _).Should().BeFalse();
    }
}
