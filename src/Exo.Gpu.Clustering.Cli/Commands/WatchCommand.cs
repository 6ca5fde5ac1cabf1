using System.Globalization;
using Exo.Gpu.Clustering.Telemetry;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary>
/// <c>exo-gpu watch [--interval 1s] [--count N] [--backend ...]</c>: reads every device each interval through a
/// manager without its poller (the backend's events still apply as they come) and shows them, health coloured, until Ctrl+C or N refreshes. On a terminal the table refreshes in
/// place; when the output is redirected each refresh prints one table (and flushes), so it can be piped and tested.
/// </summary>
internal static class WatchCommand
{
    public static readonly string[] ValueOptions = [.. BackendRequest.ValueOptions, "interval", "count"];
    public static readonly string[] Flags = [];

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
            var session = new Session(selection, manager, timer, count);
            if (context.Interactive)
            {
                await context.Console.Live(new Text(string.Empty))
                    .AutoClear(false)
                    .StartAsync(ctx => session.RunAsync(
                        table =>
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
                    async table =>
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
        var table = new Table { Title = new TableTitle(Markup.Escape(title)) }
            .AddColumns("#", "UUID", "Name", "Memory used / total", "Util", "Temp", "Power", "Health");
        foreach (var status in statuses)
        {
            var s = status.IsFresh ? status.Latest : null;
            table.AddRow(
                status.Device.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(status.Device.Uuid),
                Markup.Escape(status.Device.Name),
                $"{Gib(s?.MemoryUsedBytes)} / {Gib(s?.MemoryTotalBytes ?? status.Device.TotalMemoryBytes)} GiB",
                Format(s?.UtilizationPercent, " %"),
                Format(s?.TemperatureC, " °C"),
                Format(s?.PowerW, " W"),
                StatusCommand.HealthMarkup(status.Health));
        }

        table.Caption = new TableTitle(Markup.Escape(string.Create(
            CultureInfo.InvariantCulture,
            $"{cluster.FreshDeviceCount}/{cluster.DeviceCount} devices fresh · {Gib(cluster.UsedMemoryBytes)} / {Gib(cluster.TotalMemoryBytes)} GiB used · mean util {Format(cluster.MeanUtilizationPercent, " %")} · power {Format(cluster.TotalPowerW, " W")}")));
        return table;
    }

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
        int? count)
    {
        public async Task RunAsync(Func<IRenderable, Task> show, CancellationToken cancellationToken)
        {
            // The first refresh shows the readings the start took.
            for (var refresh = 1; ; refresh++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await show(ToTable(selection, manager.GetStatuses(), manager.GetClusterTelemetry(), refresh, count)).ConfigureAwait(false);
                if (refresh == count || !await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                await manager.RefreshTelemetryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
