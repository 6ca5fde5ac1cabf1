using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary>
/// <c>bench</c>: cross-silo cluster lease acquire + release, measured from an Orleans client (client → gateway → host
/// grain) against N host silos on loopback TCP: latency p50/p99 of the pair and throughput, with C callers for T
/// seconds (bounded in count and time).
/// </summary>
internal static class ClusterBenchCommand
{
    private const long GiB = 1L << 30;

    public static async Task<int> RunAsync(ClusterCliArgs args, TextWriter output, CancellationToken cancellationToken)
    {
        var hosts = args.Int("--hosts", 3, 1, 16);
        var callers = args.Int("--callers", 16, 1, 256);
        var seconds = args.Int("--seconds", 5, 1, 300);
        var maxOps = args.Int("--max-ops", 1_000_000, 1, 100_000_000);
        args.RejectUnknown();

        await using var cluster = await LoopbackCluster.StartAsync(hosts, 8, 1, "exo-bench-" + Guid.NewGuid().ToString("N")[..8], null, cancellationToken).ConfigureAwait(false);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client => client.UseLocalhostClustering([.. cluster.GatewayPorts], LoopbackCluster.ServiceId, cluster.ClusterId));
        using var clientHost = builder.Build();
        await clientHost.StartAsync(cancellationToken).ConfigureAwait(false);
        await using var pool = clientHost.Services.GetRequiredService<IClusterClient>().CreateClusterGpuPool();
        await LoopbackCluster.WaitForHostsAsync(pool, hosts, cancellationToken).ConfigureAwait(false);

        // Warm up every path once per caller, then measure.
        await RunCallersAsync(pool, callers, TimeSpan.FromSeconds(1), 200, new List<double>(), cancellationToken).ConfigureAwait(false);
        var latencies = new List<double>();
        var clock = Stopwatch.StartNew();
        var ops = await RunCallersAsync(pool, callers, TimeSpan.FromSeconds(seconds), maxOps, latencies, cancellationToken).ConfigureAwait(false);
        var elapsed = clock.Elapsed;
        latencies.Sort();
        await output.WriteLineAsync($"{hosts} host silos (loopback TCP), {callers} callers via a client, {elapsed.TotalSeconds:F1} s: {ops} acquire+release pairs, {ops / elapsed.TotalSeconds:F0}/s; " +
            $"pair latency p50 {Percentile(latencies, 0.50):F3} ms, p99 {Percentile(latencies, 0.99):F3} ms").ConfigureAwait(false);
        await clientHost.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    private static async Task<int> RunCallersAsync(IClusterGpuPool pool, int callers, TimeSpan duration, int maxOps, List<double> latencies, CancellationToken cancellationToken)
    {
        var ops = 0;
        var until = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            var mine = new List<double>();
            while (Stopwatch.GetTimestamp() < until && Interlocked.Increment(ref ops) <= maxOps)
            {
                var start = Stopwatch.GetTimestamp();
                var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = $"bench-{Guid.NewGuid():N}", MemoryBytes = GiB }, cancellationToken).ConfigureAwait(false);
                await lease.ReleaseAsync(cancellationToken).ConfigureAwait(false);
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            lock (latencies)
            {
                latencies.AddRange(mine);
            }
        }, cancellationToken))).ConfigureAwait(false);
        return Math.Min(ops, maxOps);
    }

    private static double Percentile(List<double> sorted, double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
