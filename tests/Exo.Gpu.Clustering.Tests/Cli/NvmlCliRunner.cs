using Exo.Gpu.Clustering.Cli;
using Exo.Gpu.Clustering.Tests.Backends.Nvml;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Cli;

/// <summary>Runs <c>exo-gpu</c> in-process with NVML looked for at a path of the test's choosing (the fake library, or nowhere).</summary>
internal static class NvmlCliRunner
{
    public const string MissingPath = "/nonexistent/exo-gpu-test/libnvidia-ml.so.1";

    public static async Task<(int ExitCode, string Out, string Error)> RunAsync(string nvmlPath, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var environment = new Dictionary<string, string>
        {
            [BackendChoice.NvmlPathVariable] = nvmlPath,
            [BackendChoice.CudaPathVariable] = FakeGpuLibrary.Main.Path,
        };
        var context = new CliContext(output, error, new FakeTimeProvider(CliRunner.Start), interactive: false)
        {
            Environment = name => environment.GetValueOrDefault(name),
        };
        var code = await CliApp.RunAsync(args, context, CancellationToken.None);
        return (code, output.ToString(), error.ToString());
    }
}
