using Exo.Gpu.Clustering.Cli;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary>Runs <c>exo-gpu</c> in-process with captured output and a fake clock.</summary>
internal static class CliRunner
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// The process environment, except that NVML is looked for where it is not, so <c>--backend auto</c> means the
    /// simulated cluster here even on a machine with an NVIDIA driver.
    /// </summary>
    public static string? IsolatedEnvironment(string name) =>
        name == "EXO_GPU_NVML_PATH" ? "/nonexistent/exo-gpu-tests/libnvidia-ml.so.1" : Environment.GetEnvironmentVariable(name);

    public static async Task<(int ExitCode, string Out, string Error)> RunAsync(params string[] args) =>
        await RunAsync(new FakeTimeProvider(Start), args);

    public static async Task<(int ExitCode, string Out, string Error)> RunAsync(TimeProvider time, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var context = new CliContext(output, error, time, interactive: false) { Environment = IsolatedEnvironment };
        var code = await CliApp.RunAsync(args, context, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Runs with a caller's output writer (to observe output as it is written) and token (Ctrl+C).</summary>
    public static async Task<(int ExitCode, string Out, string Error)> RunAsync(TimeProvider time, TextWriter output, bool interactive, string[] args, CancellationToken cancellationToken)
    {
        using var error = new StringWriter();
        var context = new CliContext(output, error, time, interactive);
        var code = await CliApp.RunAsync(args, context, cancellationToken);
        return (code, output.ToString() ?? string.Empty, error.ToString());
    }
}
