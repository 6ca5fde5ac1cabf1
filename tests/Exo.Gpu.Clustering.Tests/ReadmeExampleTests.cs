using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Scheduling;

namespace Exo.Gpu.Clustering.Tests;

/// <summary>The README's C# example is this file's marked block: it compiles here, runs here, and must match the README.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public async Task Example_RunsOnTheSimulatedCluster()
    {
        var output = new StringWriter();
        var cancellationToken = CancellationToken.None;
        var options = new GpuClusteringOptions { BackendChoice = GpuBackendChoice.Simulated };
        var console = output;

        // README-BEGIN
        await using var cluster = await GpuClusteringManager.StartAsync(options, cancellationToken);

        // Reserve 20 GiB on the best device; the lease is revoked if that device is lost or turns unhealthy.
        await using var lease = await cluster.AcquireAsync(new GpuRequest { MemoryBytes = 20L << 30 }, cancellationToken);
        console.WriteLine($"running on {lease.Device.Name} ({lease.Device.Uuid})");

        // Split 1,000,000 items exactly over the devices usable now, in proportion to their free memory.
        var work = cluster.DistributeByCapacity(1_000_000);
        for (var i = 0; i < work.Devices.Count; i++)
        {
            console.WriteLine($"GPU {work.Devices[i].Index}: {work.Plan.Counts[i]} items");
        }
        // README-END

        output.ToString().Should().Contain("running on").And.Contain("GPU 0:");
        work.Plan.Counts.Sum().Should().Be(1_000_000);
    }

    [Fact]
    public void Readme_CSharpExample_IsTheTestedBlock()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Exo.Gpu.Clustering.sln")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("The repository root was not found.");
        }

        var source = File.ReadAllText(Path.Combine(root, "tests", "Exo.Gpu.Clustering.Tests", "ReadmeExampleTests.cs"));
        var begin = source.IndexOf("// README-BEGIN", StringComparison.Ordinal) + "// README-BEGIN".Length;
        var end = source.IndexOf("        // README-END", StringComparison.Ordinal);
        var tested = Normalize(source[begin..end]);

        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        readme.Should().Contain("```csharp");
        var block = readme[(readme.IndexOf("```csharp", StringComparison.Ordinal) + "```csharp".Length)..];
        block = block[..block.IndexOf("```", StringComparison.Ordinal)];
        Normalize(block).Should().Contain(tested);
    }

    private static string Normalize(string code) =>
        string.Join('\n', code.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));
}
