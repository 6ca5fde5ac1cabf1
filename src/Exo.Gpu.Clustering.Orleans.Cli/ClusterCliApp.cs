namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary>The <c>exo-gpu-cluster</c> command line: exit 0 success, 1 invariants broken, 2 bad arguments, 3 no cluster.</summary>
internal static class ClusterCliApp
{
    public const string Usage = """
        exo-gpu-cluster: see and drive a GPU cluster on Microsoft Orleans

        usage:
          exo-gpu-cluster simulate [--hosts N] [--devices-per-host D] [--jobs J] [--seed S] [--json]
              N simulated GPU hosts (2-16, default 4) as real silos on loopback, D devices each (1-16, default 2),
              J seeded jobs (1-100000, default 200) of cluster leases, one host killed mid-run and its jobs re-queued.
              Exit 1 when an invariant breaks (a job not completed, granted != released + revoked + expired,
              an oversubscribed device).
          exo-gpu-cluster serve [--hosts N] [--devices-per-host D] [--seed S] [--silo-port P] [--gateway G] [--seconds T]
              N simulated GPU hosts on loopback until Ctrl+C (or T seconds).
          exo-gpu-cluster host --host-id ID --silo-port P --gateway G --primary-port P0 [--cluster-id C] [--devices-per-host D] [--seed S]
              One simulated GPU host silo joining the loopback cluster whose primary silo listens on P0, until Ctrl+C.
          exo-gpu-cluster status [--gateway G] [--json]
              The cluster's hosts and devices, health and reservations (gateway 30000 by default).
          exo-gpu-cluster bench [--hosts N] [--callers C] [--seconds T] [--max-ops M]
              Cross-silo cluster lease acquire + release from an Orleans client: p50/p99 of the pair and throughput.
          exo-gpu-cluster --help | help <command>
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help" || args.Skip(1).Any(a => a is "--help" or "-h"))
        {
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return 0;
        }

        try
        {
            var rest = args[1..];
            return args[0] switch
            {
                "simulate" => await ClusterSimulateCommand.RunAsync(new ClusterCliArgs(rest, new HashSet<string> { "--json" }), output, error, cancellationToken).ConfigureAwait(false),
                "status" => await ClusterStatusCommand.RunAsync(new ClusterCliArgs(rest, new HashSet<string> { "--json" }), output, error, cancellationToken).ConfigureAwait(false),
                "bench" => await ClusterBenchCommand.RunAsync(new ClusterCliArgs(rest, new HashSet<string>()), output, cancellationToken).ConfigureAwait(false),
                "host" => await ClusterHostCommand.RunAsync(new ClusterCliArgs(rest, new HashSet<string>()), output, error, cancellationToken).ConfigureAwait(false),
                "serve" => await ClusterServeCommand.RunAsync(new ClusterCliArgs(rest, new HashSet<string>()), output, cancellationToken).ConfigureAwait(false),
                _ => throw new ClusterUsageException($"unknown command '{args[0]}'"),
            };
        }
        catch (ClusterUsageException e)
        {
            await error.WriteLineAsync($"exo-gpu-cluster: {e.Message}\n\n{Usage}").ConfigureAwait(false);
            return 2;
        }
    }
}
