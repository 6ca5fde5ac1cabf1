using System.Globalization;
using Exo.Gpu.Clustering.Telemetry;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary>
/// <c>exo-gpu watch [--interval 1s] [--count N] [--json] [--processes] [--backend ...]</c>: reads every device each interval
/// through a manager without its poller (the backend's events still apply as they come) and shows them, health coloured,
/// until Ctrl+C or N refreshes. On a terminal the table refreshes in place; when the output is redirected each refresh
/// prints one table (and flushes), so it can be piped and tested. <c>--json</c> prints one JSON document per line per refresh.
/// </summary>
internal static class WatchCommand
{
    public static readonly string[] ValueOptions = [.. BackendRequest.ValueOptions, "interval", "count"];
    public static readonly string[] Flags = ["json", "processes"];

    public static readonly CommandHelp Help = new(
        "watch [--interval 1s] [--count N] [--json] [--processes] [--backend auto|nvml|simulated] [--profile P] [--devices N] [--seed S] [--faults PLAN]",
        "A live view of every device (the status table plus a cluster line), refreshed every --interval until Ctrl+C or\n"
        + "--count refreshes. On a terminal it redraws in place; piped, it prints one table per refresh and flushes.",
        [
            ("--interval TIME", "time between refreshes: 500ms, 1s (default), 2m; a bare number is seconds; 100ms to 1h"),
            ("--count N", "stop after N refreshes (default: until Ctrl+C)"),
            ("--json", "one JSON document per line per refresh: {\"refresh\", \"timestamp\", \"backend\", \"fallbackReason\"?, \"cluster\", \"devices\": [...]}"),
            ("--processes", "a processes section each refresh (pid, user, name, type, GPU memory); in JSON each device's \"processes\""),
            .. CommandHelp.BackendOptions,
        ],
        [
            ("exo-gpu watch --interval 2s", "refresh every 2 s until Ctrl+C"),
            ("exo-gpu watch --json --count 10 --interval 1s > gpu.jsonl", "ten JSON lines, one per second"),
            ("exo-gpu watch --processes", "with the processes of each GPU"),
        ]);

    public static async Task<int> RunAsync(CliArguments args, CliContext context, CancellationToken cancellationToken)
    {
        var interval = args.GetDuration("interval", TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(100));
        if (interval > TimeSpan.FromHours(1))
        {
            throw new CliUsageException("--interval", $"must be at most 1h, got '{args.Get("interval")}'.");
        }

        int? count = args.Has("count") ? args.GetInt("count", 1, 1, int.MaxValue) : null;
        var request = BackendRequest.FromArguments(args);
        var selection = await context.CreateBackendAsync(request, cancellationToken).ConfigureAwait(false);
        await BackendChoice.WarnIfFellBackAsync(context, "watch", selection).ConfigureAwait(false);
        var telemetry = new TelemetryOptions
        {
            PollInterval = interval,
            StalenessLimit = Max(TimeSpan.FromSeconds(5), interval * 3),
            SampleTimeout = Min(TimeSpan.FromSeconds(2), interval),
            MaxBackoff = Max(TimeSpan.FromSeconds(30), interval),
        };
        var manager = await CliCluster.StartOnDemandAsync(context, selection, options => options.Telemetry = telemetry, cancellationToken).ConfigureAwait(false);
        await using (manager.ConfigureAwait(false))
        {
            // The timer exists before the first refresh, so a tick is never missed while rendering.
            using var timer = new PeriodicTimer(interval, context.Time);
            var session = new Session(selection, manager, timer, count, args.Has("processes"));
            if (args.Has("json"))
            {
                await session.RunAsync(
                    async (_, line) =>
                    {
                        await context.Out.WriteLineAsync(line).ConfigureAwait(false);
                        await context.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            else if (context.Interactive)
            {
                await context.Console.Live(new Text(string.Empty))
                    .AutoClear(false)
                    .StartAsync(ctx => session.RunAsync(
                        (table, _) =>
                        {
                            ctx.UpdateTarget(table);
                            ctx.Refresh();
                            return Task.CompletedTask;
                        },
                        cancellationToken))
                    .ConfigureAwait(false);
            }
            else
            {
                await session.RunAsync(
                    async (table, _) =>
                    {
                        context.Console.Write(table);
                        context.Console.WriteLine();
                        await context.Out.FlushAsync(cancellationToken).ConfigureAwait(false);
                    },
                    cancellationToken).ConfigureAwait(false);
            }
        }

        return CliApp.Success;
    }

    /// <summary>Builds one refresh's table: one row per device and a cluster line from fresh readings.</summary>
    public static Table ToTable(BackendSelection selection, IReadOnlyList<GpuDeviceStatus> statuses, ClusterTelemetry cluster, int refresh, int? count)
    {
        var title = $"backend: {selection.Name}" + (selection.Note is { } note ? $" ({note})" : string.Empty)
            + string.Create(CultureInfo.InvariantCulture, $" · refresh {refresh}{(count is int n ? $"/{n}" : string.Empty)} at {cluster.Timestamp:yyyy-MM-dd HH:mm:ss}Z");
        var table = DeviceView.DeviceTable(title, statuses, freshOnly: true);
        table.Caption = new TableTitle(Markup.Escape(string.Create(
            CultureInfo.InvariantCulture,
            $"{cluster.FreshDeviceCount}/{cluster.DeviceCount} devices fresh · {Gib(cluster.UsedMemoryBytes)} / {Gib(cluster.TotalMemoryBytes)} GiB used · mean util {Format(cluster.MeanUtilizationPercent, " %")} · power {Format(cluster.TotalPowerW, " W")}")));
        return table;
    }

    /// <summary>One refresh as one line of JSON: the refresh, its time, the backend, the cluster line and every device.</summary>
    public static string ToJsonLine(
        BackendSelection selection, IReadOnlyList<GpuDeviceStatus> statuses, IReadOnlyList<DeviceProcesses>? processes, ClusterTelemetry cluster, int refresh) =>
        DeviceView.Json(indented: false, json =>
        {
            json.WriteStartObject();
            json.WriteNumber("refresh", refresh);
            json.WriteString("timestamp", cluster.Timestamp.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            DeviceView.WriteBackend(json, selection);
            json.WriteStartObject("cluster");
            json.WriteNumber("deviceCount", cluster.DeviceCount);
            json.WriteNumber("freshDeviceCount", cluster.FreshDeviceCount);
            DeviceView.WriteNumber(json, "memoryUsedBytes", cluster.UsedMemoryBytes);
            DeviceView.WriteNumber(json, "memoryTotalBytes", cluster.TotalMemoryBytes);
            DeviceView.WriteNumber(json, "meanUtilizationPercent", cluster.MeanUtilizationPercent);
            DeviceView.WriteNumber(json, "totalPowerW", cluster.TotalPowerW);
            json.WriteEndObject();
            json.WriteStartArray("devices");
            for (var i = 0; i < statuses.Count; i++)
            {
                DeviceView.WriteDevice(json, statuses[i], freshOnly: true, processes?[i]);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        });

    private static string Gib(long? bytes) =>
        bytes is long b ? (b / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) : "n/a";

    private static string Format(double? value, string unit) =>
        value is double v ? v.ToString("0", CultureInfo.InvariantCulture) + unit : "n/a";

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>The refresh loop: show, wait for the next tick, read every device; until the count or the token.</summary>
    private sealed class Session(
        BackendSelection selection,
        GpuClusteringManager manager,
        PeriodicTimer timer,
        int? count,
        bool withProcesses)
    {
        /// <summary>Runs the refreshes; <paramref name="show"/> gets the table (with the processes below it) and the JSON line.</summary>
        public async Task RunAsync(Func<IRenderable, string, Task> show, CancellationToken cancellationToken)
        {
            // The first refresh shows the readings the start took.
            for (var refresh = 1; ; refresh++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var statuses = manager.GetStatuses();
                var cluster = manager.GetClusterTelemetry();
                var processes = withProcesses ? await DeviceView.ReadProcessesAsync(manager, statuses, cancellationToken).ConfigureAwait(false) : null;
                var table = ToTable(selection, statuses, cluster, refresh, count);
                IRenderable view = processes is null ? table : new Rows(table, DeviceView.ProcessTable(processes));
                await show(view, ToJsonLine(selection, statuses, processes, cluster, refresh)).ConfigureAwait(false);
                if (refresh == count || !await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                await manager.RefreshTelemetryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
