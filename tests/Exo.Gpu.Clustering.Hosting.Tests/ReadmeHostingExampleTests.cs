using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static Exo.Gpu.Clustering.Hosting.Tests.HostKit;

namespace Exo.Gpu.Clustering.Hosting.Tests;

/// <summary>The README's hosting quick start is this file's marked block: it compiles and runs here, and must match the README.</summary>
public class ReadmeHostingExampleTests
{
    [Fact]
    public async Task Example_RunsAndStopsWithTheWorkerLeaseReleased()
    {
        string[] args = ["--GpuClustering:BackendChoice=Simulated", "--GpuClustering:EnablePoller=false", "--GpuClustering:SimulatedOptions:DeviceCount=2"];
        using var stop = new CancellationTokenSource();
        var cancellationToken = stop.Token;
        InferenceWorker.Started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        InferenceWorker.Stopped = new TaskCompletionSource<(int Released, int Revoked)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = InferenceWorker.Started.Task.ContinueWith(_ => stop.Cancel(), TaskScheduler.Default);

        var run = Task.Run(async () =>
        {
            // README-BEGIN
            var builder = Host.CreateApplicationBuilder(args);
            builder.Services.AddGpuClustering(builder.Configuration.GetSection("GpuClustering"));
            builder.Services.AddHostedService<InferenceWorker>(); // takes GpuClusteringManager in its constructor; any order
            using var host = builder.Build();
            await host.RunAsync(cancellationToken);
            // README-END
        });

        await run.WaitAsync(Guard);
        (await InferenceWorker.Stopped.Task.WaitAsync(Guard)).Should().Be((1, 0));
    }

    [Fact]
    public void Readme_HostingExample_IsTheTestedBlock()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Exo.Gpu.Clustering.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("The repository root was not found.");
        }

        var source = File.ReadAllText(Path.Combine(root, "tests", "Exo.Gpu.Clustering.Hosting.Tests", "ReadmeHostingExampleTests.cs"));
        var begin = source.IndexOf("// README-BEGIN", StringComparison.Ordinal) + "// README-BEGIN".Length;
        var end = source.IndexOf("            // README-END", StringComparison.Ordinal);
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var block = readme[(readme.IndexOf("```csharp hosting", StringComparison.Ordinal) + "```csharp hosting".Length)..];
        block = block[..block.IndexOf("```", StringComparison.Ordinal)];

        Normalize(block).Should().Be(Normalize(source[begin..end]));
    }

    private static string Normalize(string code) =>
        string.Join('\n', code.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));
}

/// <summary>The README's worker: holds a lease while the host runs and releases it when the host stops.</summary>
internal sealed class InferenceWorker(GpuClusteringManager manager) : IHostedService
{
    public static TaskCompletionSource Started { get; set; } = new();

    public static TaskCompletionSource<(int Released, int Revoked)> Stopped { get; set; } = new();

    private Scheduling.GpuLease _lease;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _lease = await manager.AcquireAsync(new Scheduling.GpuRequest { MemoryBytes = 1L << 30 }, cancellationToken);
        Started.TrySetResult();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _lease.DisposeAsync();
        var snapshot = manager.GetLeaseSnapshot();
        Stopped.TrySetResult(((int)snapshot.Released, (int)snapshot.Revoked));
    }
}
