namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary><c>serve</c>: N simulated GPU hosts as silos on loopback until Ctrl+C (or <c>--seconds</c>), for <c>status</c> to see.</summary>
internal static class ClusterServeCommand
{
    public static async Task<int> RunAsync(ClusterCliArgs args, TextWriter output, CancellationToken cancellationToken)
    {
        var hosts = args.Int("--hosts", 3, 1, 16);
        var devices = args.Int("--devices-per-host", 2, 1, 16);
        var seed = args.Int("--seed", 1, int.MinValue, int.MaxValue);
        var siloPort = args.Int("--silo-port", 11111, 1, 65000);
        var gatewayPort = args.Int("--gateway", 30000, 1, 65000);
        var seconds = args.Int("--seconds", 0, 0, 86400);
        args.RejectUnknown();

        await using var cluster = await LoopbackCluster.StartAsync(hosts, devices, seed, LoopbackCluster.DefaultClusterId, (siloPort, gatewayPort), cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync($"serving {hosts} simulated GPU host(s) x {devices} device(s); gateway 127.0.0.1:{gatewayPort} (exo-gpu-cluster status --gateway {gatewayPort}); Ctrl+C stops").ConfigureAwait(false);
        try
        {
            await Task.Delay(seconds == 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(seconds), cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        return 0;
    }
}
