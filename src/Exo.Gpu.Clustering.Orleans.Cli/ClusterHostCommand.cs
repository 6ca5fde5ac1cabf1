using System.Net;

namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary>
/// <c>host</c>: one simulated GPU host silo that joins a loopback cluster (given its primary's silo port), until
/// Ctrl+C. Prints <c>ready</c> once started; warnings go to stderr. The tests run it as a child process to kill with
/// SIGKILL or stop with SIGSTOP.
/// </summary>
internal static class ClusterHostCommand
{
    public static async Task<int> RunAsync(ClusterCliArgs args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var hostId = args.Text("--host-id", "host");
        var siloPort = args.Int("--silo-port", 11111, 1, 65535);
        var gatewayPort = args.Int("--gateway", 30000, 1, 65535);
        var primaryPort = args.Int("--primary-port", siloPort, 1, 65535);
        var clusterId = args.Text("--cluster-id", LoopbackCluster.DefaultClusterId);
        var devices = args.Int("--devices-per-host", 2, 1, 16);
        var seed = args.Int("--seed", 1, int.MinValue, int.MaxValue);
        args.RejectUnknown();

        using var host = await LoopbackCluster.StartHostSiloAsync(hostId, siloPort, gatewayPort, new IPEndPoint(IPAddress.Loopback, primaryPort), clusterId, devices, seed, new StderrLoggerProvider(error), cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync($"ready {hostId}").ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }
}
