using System.Text.Json;
using Exo.Gpu.Clustering.Telemetry;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary><c>exo-gpu status [--json] [--processes] [--backend auto|simulated|nvml]</c>: one row per device.</summary>
/// <remarks>
/// Reads every device once (<see cref="GpuClusteringManager.ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>); with <c>--processes</c> it starts a
/// manager without its poller instead, so the backend is still open to list each device's processes.
/// </remarks>
internal static class StatusCommand
{
    public static readonly string[] ValueOptions = BackendRequest.ValueOptions;
    public static readonly string[] Flags = ["json", "processes"];

    public static readonly CommandHelp Help = new(
        "status [--json] [--processes] [--backend auto|nvml|simulated] [--profile P] [--devices N] [--seed S] [--faults PLAN]",
        "Reads every device once: index, UUID, name, memory used/total, utilization, temperature, power, health and,\n"
        + "for every device that is not Healthy, the reason. A value the device cannot report is n/a (null in JSON).",
        [
            ("--json", "one JSON document: {\"backend\", \"fallbackReason\"?, \"devices\": [{\"index\", \"uuid\", \"name\", \"memoryUsedBytes\", \"memoryTotalBytes\", \"utilizationPercent\", \"temperatureC\", \"powerW\", \"health\", \"reason\"?, \"processes\"?}]}"),
            ("--processes", "also list the processes using each GPU: pid, user, name, type (C compute, G graphics), GPU memory; \"not available\" where the driver cannot say"),
            .. CommandHelp.BackendOptions,
        ],
        [
            ("exo-gpu status", "the table"),
            ("exo-gpu status --processes --json | jq '.devices[] | {index, processes}'", "who uses which GPU, as JSON"),
            ("exo-gpu status --backend simulated --faults hot:1@0s", "a simulated cluster with a hot device (Reason column)"),
        ]);

    public static async Task<int> RunAsync(CliArguments args, CliContext context, CancellationToken cancellationToken)
    {
        var request = BackendRequest.FromArguments(args);
        var selection = await context.CreateBackendAsync(request, cancellationToken).ConfigureAwait(false);
        await BackendChoice.WarnIfFellBackAsync(context, "status", selection).ConfigureAwait(false);
        IReadOnlyList<GpuDeviceStatus> rows;
        IReadOnlyList<DeviceProcesses>? processes = null;
        if (args.Has("processes"))
        {
            var manager = await CliCluster.StartOnDemandAsync(context, selection, _ => { }, cancellationToken).ConfigureAwait(false);
            await using (manager.ConfigureAwait(false))
            {
                rows = manager.GetStatuses();
                processes = await DeviceView.ReadProcessesAsync(manager, rows, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            rows = (await CliCluster.ReadOnceAsync(context, selection, cancellationToken).ConfigureAwait(false)).Devices;
        }

        if (args.Has("json"))
        {
            await context.Out.WriteLineAsync(ToJson(selection, rows, processes)).ConfigureAwait(false);
        }
        else
        {
            context.Console.Write(ToTable(selection, rows));
            if (processes is not null)
            {
                context.Console.Write(DeviceView.ProcessTable(processes));
            }
        }

        if (rows.Count == 0)
        {
            await context.Error.WriteLineAsync($"exo-gpu status: the {selection.Name} backend found no device.").ConfigureAwait(false);
            return CliApp.NoDevice;
        }

        return CliApp.Success;
    }

    public static string ToJson(BackendSelection selection, IReadOnlyList<GpuDeviceStatus> rows, IReadOnlyList<DeviceProcesses>? processes = null) =>
        DeviceView.Json(indented: true, json => Write(json, selection, rows, processes, freshOnly: false));

    /// <summary>The status document's members (also each line of <c>watch --json</c>).</summary>
    public static void Write(Utf8JsonWriter json, BackendSelection selection, IReadOnlyList<GpuDeviceStatus> rows, IReadOnlyList<DeviceProcesses>? processes, bool freshOnly)
    {
        json.WriteStartObject();
        DeviceView.WriteBackend(json, selection);
        json.WriteStartArray("devices");
        for (var i = 0; i < rows.Count; i++)
        {
            DeviceView.WriteDevice(json, rows[i], freshOnly, processes?[i]);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static Table ToTable(BackendSelection selection, IReadOnlyList<GpuDeviceStatus> rows) =>
        DeviceView.DeviceTable($"backend: {selection.Name}" + (selection.Note is { } note ? $" ({note})" : string.Empty), rows, freshOnly: false);
}
