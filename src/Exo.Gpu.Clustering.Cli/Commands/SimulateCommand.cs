using System.Globalization;
using Exo.Gpu.Clustering.Cli.Simulation;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary>
/// <c>exo-gpu simulate [--devices N] [--jobs N] [--seed S] [--load L] [--profile homogeneous|heterogeneous] [--json]</c>:
/// a seeded job stream through the whole library on the simulated cluster, in simulated time, and what happened.
/// </summary>
internal static class SimulateCommand
{
    /// <summary>The most devices (the simulated profiles' limit).</summary>
    public const int MaxDevices = 1_024;

    /// <summary>The most jobs.</summary>
    public const int MaxJobs = 1_000_000;

    /// <summary>The command's options, for its usage text.</summary>
    public static readonly string[] ValueOptions = ["devices", "jobs", "seed", "load", "profile"];
    public static readonly string[] Flags = ["json"];

    public static readonly CommandHelp Help = new(
        "simulate [--devices N] [--jobs N] [--seed S] [--load L] [--profile homogeneous|heterogeneous] [--json]",
        "Runs a seeded stream of jobs through the whole library (selection, leases, waits, revocations) on the simulated\n"
        + "cluster, in simulated time: jobs placed per device, waits, revocations, peak memory. Same seed, same report.",
        [
            ("--devices N", "simulated devices (1-1024, default 8)"),
            ("--jobs N", "jobs in the stream (1-1000000, default 200)"),
            ("--seed S", "the seed (default 1)"),
            ("--load L", "arrivals as a fraction of the memory-time the cluster can serve (0.01-4, default 0.7); above 1 the queue grows without end"),
            ("--profile homogeneous|heterogeneous", "eight identical H100s or a mixed cluster (default heterogeneous)"),
            ("--json", "the report as JSON"),
        ],
        [
            ("exo-gpu simulate --devices 16 --jobs 5000 --seed 7 --json", "a larger run, as JSON"),
        ]);

    public static async Task<int> RunAsync(CliArguments args, CliContext context, CancellationToken cancellationToken)
    {
        var settings = new SimulationSettings(
            args.GetInt("devices", 8, 1, MaxDevices),
            args.GetInt("jobs", 200, 1, MaxJobs),
            args.GetInt("seed", 1, int.MinValue, int.MaxValue),
            args.GetChoice("profile", "heterogeneous", "homogeneous", "heterogeneous"),
            args.GetDouble("load", SimulationSettings.DefaultLoad, 0.01, 4));
        var report = await SimulationRun.RunAsync(settings, cancellationToken).ConfigureAwait(false);
        if (args.Has("json"))
        {
            await context.Out.WriteLineAsync(report.ToJson()).ConfigureAwait(false);
            return CliApp.Success;
        }

        await context.Out.WriteLineAsync(report.Summary()).ConfigureAwait(false);
        var table = new Table().AddColumns("#", "UUID", "Name", "Jobs run", "Peak reserved", "Mean util", "Lost");
        foreach (var d in report.Devices)
        {
            table.AddRow(
                d.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(d.Uuid),
                Markup.Escape(d.Name),
                d.JobsRun.ToString(CultureInfo.InvariantCulture),
                (d.PeakReservedBytes / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
                d.MeanUtilizationPercent.ToString("0.0", CultureInfo.InvariantCulture) + " %",
                d.Lost ? "[red]lost[/]" : string.Empty);
        }

        context.Console.Write(table);
        return CliApp.Success;
    }
}
