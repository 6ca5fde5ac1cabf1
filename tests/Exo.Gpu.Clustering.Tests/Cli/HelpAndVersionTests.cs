using System.Text.Json;
using Exo.Gpu.Clustering.Cli;
using Exo.Gpu.Clustering.Tests.Backends.Nvml;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary>Every command answers --help, -h and help &lt;command&gt;; --version answers too.</summary>
public class HelpAndVersionTests
{
    public static TheoryData<string> CommandNames() => [.. CliApp.Commands.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CommandNames))]
    public async Task Command_HelpDashHAndHelpCommand_SameUsageExampleExitCode0(string command)
    {
        var help = await CliRunner.RunAsync(command, "--help");
        var h = await CliRunner.RunAsync(command, "-h");
        var viaHelp = await CliRunner.RunAsync("help", command);

        help.ExitCode.Should().Be(0);
        help.Error.Should().BeEmpty();
        help.Out.Should().StartWith($"usage: exo-gpu {command}").And.Contain("Options:").And.Contain("Example").And.Contain("--no-color");
        h.Should().Be(help);
        viaHelp.Should().Be(help);
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public async Task Command_Help_DocumentsEveryOptionItParses(string command)
    {
        var spec = CliApp.Commands.Single(c => c.Name == command);
        var (_, output, _) = await CliRunner.RunAsync(command, "--help");

        var undocumented = spec.Values.Concat(spec.Flags).Where(o => !output.Contains("--" + o + " ", StringComparison.Ordinal)
            && !output.Contains("--" + o + "\n", StringComparison.Ordinal) && !output.Contains("--" + o + ",", StringComparison.Ordinal));
        undocumented.Should().BeEmpty();
    }

    [Fact]
    public async Task Command_HelpAfterOtherOptions_StillHelpNotAnError()
    {
        var (code, output, _) = await CliRunner.RunAsync("select", "--memory", "20GiB", "--bogus", "-h");

        code.Should().Be(0);
        output.Should().StartWith("usage: exo-gpu select");
    }

    [Fact]
    public async Task Help_UnknownCommand_ExitCode2NamingIt()
    {
        var (code, output, error) = await CliRunner.RunAsync("help", "frobnicate");

        code.Should().Be(2);
        output.Should().BeEmpty();
        error.Should().Contain("frobnicate").And.Contain("status");
    }

    [Fact]
    public async Task GeneralHelp_ListsEveryCommandAndTheGlobalOptions()
    {
        var (code, output, _) = await CliRunner.RunAsync("help");

        code.Should().Be(0);
        output.Should().Contain("--version").And.Contain("--color, --no-color");
        foreach (var command in CliApp.Commands)
        {
            output.Should().Contain("  " + command.Name + " ");
        }
    }

    [Fact]
    public async Task Version_PrintsToolAndLibraryVersions()
    {
        var (code, output, error) = await CliRunner.RunAsync("--version");

        code.Should().Be(0, error);
        output.Should().MatchRegex(@"^exo-gpu \d+\.\d+\.\d+ \(Exo\.Gpu\.Clustering \d+\.\d+\.\d+\)\n$");
    }

    [Fact]
    public async Task VersionJson_WithoutNvml_BackendNullWithTheReason()
    {
        var (code, output, _) = await NvmlCliRunner.RunAsync(NvmlCliRunner.MissingPath, "--version", "--json");

        code.Should().Be(0);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("version").GetString().Should().MatchRegex(@"^\d+\.\d+\.\d+");
        doc.RootElement.GetProperty("library").GetString().Should().MatchRegex(@"^\d+\.\d+\.\d+");
        doc.RootElement.GetProperty("backend").ValueKind.Should().Be(JsonValueKind.Null);
        doc.RootElement.GetProperty("driverVersion").ValueKind.Should().Be(JsonValueKind.Null);
        doc.RootElement.GetProperty("nvmlUnavailableReason").GetString().Should().Contain(NvmlCliRunner.MissingPath);
    }

    [Fact]
    public async Task Version_ExtraArgument_ExitCode2()
    {
        var (code, _, error) = await CliRunner.RunAsync("--version", "--yaml");

        code.Should().Be(2);
        error.Should().Contain("--yaml");
    }
}

/// <summary><c>--version --json</c> with NVML present: the driver's and CUDA's versions.</summary>
[Collection(FakeGpuTests.Name)]
public class VersionNvmlTests
{
    [Fact]
    public async Task VersionJson_WithNvml_DriverAndCudaVersions()
    {
        FakeGpuLibrary.Main.Reset(1);

        var (code, output, error) = await NvmlCliRunner.RunAsync(FakeGpuLibrary.Main.Path, "--version", "--json");

        code.Should().Be(0, error);
        using var doc = JsonDocument.Parse(output);
        doc.RootElement.GetProperty("backend").GetString().Should().Be("nvml");
        doc.RootElement.GetProperty("driverVersion").GetString().Should().Be("550.54.15");
        doc.RootElement.GetProperty("cudaDriverVersion").GetString().Should().Be("12.4");
        doc.RootElement.TryGetProperty("nvmlUnavailableReason", out _).Should().BeFalse();
    }
}
