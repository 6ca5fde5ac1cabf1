using System.Globalization;
using System.Text.Json;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary><c>exo-gpu status [--json] [--backend auto|simulated|nvml]</c>: one row per device.</summary>
internal static class StatusCommand
{
    public static readonly string[] ValueOptions = BackendRequest.ValueOptions;
    public static readonly string[] Flags = ["json"];

    public static async Task<int> RunAsync(CliArguments args, CliContext context, CancellationToken cancellationToken)
    {
        var request = BackendRequest.FromArguments(args);
        var selection = await context.CreateBackendAsync(request, cancellationToken).ConfigureAwait(false);
        var snapshot = await CliCluster.ReadOnceAsync(context, selection, cancellationToken).ConfigureAwait(false);
        var rows = snapshot.Devices;
        if (args.Has("json"))
        {
            await context.Out.WriteLineAsync(ToJson(selection.Name, rows)).ConfigureAwait(false);
        }
        else
        {
            context.Console.Write(ToTable(selection, rows));
        }

        if (rows.Count == 0)
        {
            await context.Error.WriteLineAsync($"exo-gpu status: the {selection.Name} backend found no device.").ConfigureAwait(false);
            return CliApp.NoDevice;
        }

        return CliApp.Success;
    }

    public static string ToJson(string backend, IReadOnlyList<GpuDeviceStatus> rows)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("backend", backend);
            json.WriteStartArray("devices");
            foreach (var row in rows)
            {
                WriteDevice(json, row);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static Table ToTable(BackendSelection selection, IReadOnlyList<GpuDeviceStatus> rows)
    {
        var title = $"backend: {selection.Name}" + (selection.Note is { } note ? $" ({note})" : string.Empty);
        var table = new Table { Title = new TableTitle(Markup.Escape(title)) }
            .AddColumns("#", "UUID", "Name", "Memory used / total", "Util", "Temp", "Power", "Health");
        foreach (var row in rows)
        {
            var s = row.Latest;
            table.AddRow(
                row.Device.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(row.Device.Uuid),
                Markup.Escape(row.Device.Name),
                $"{Gib(s?.MemoryUsedBytes)} / {Gib(s?.MemoryTotalBytes ?? row.Device.TotalMemoryBytes)} GiB",
                Format(s?.UtilizationPercent, "0", " %"),
                Format(s?.TemperatureC, "0", " °C"),
                Format(s?.PowerW, "0", " W"),
                HealthMarkup(row.Health));
        }

        return table;
    }

    public static string HealthMarkup(GpuHealth health) => health switch
    {
        GpuHealth.Healthy => "[green]Healthy[/]",
        GpuHealth.Degraded => "[yellow]Degraded[/]",
        GpuHealth.Unhealthy => "[red]Unhealthy[/]",
        GpuHealth.Lost => "[red bold]Lost[/]",
        _ => "[grey]Unknown[/]",
    };

    private static void WriteDevice(Utf8JsonWriter json, GpuDeviceStatus row)
    {
        var s = row.Latest;
        json.WriteStartObject();
        json.WriteNumber("index", row.Device.Index);
        json.WriteString("uuid", row.Device.Uuid);
        json.WriteString("name", row.Device.Name);
        WriteNumber(json, "memoryUsedBytes", s?.MemoryUsedBytes);
        WriteNumber(json, "memoryTotalBytes", s?.MemoryTotalBytes ?? row.Device.TotalMemoryBytes);
        WriteNumber(json, "utilizationPercent", s?.UtilizationPercent);
        WriteNumber(json, "temperatureC", s?.TemperatureC);
        WriteNumber(json, "powerW", s?.PowerW);
        json.WriteString("health", row.Health.ToString());
        json.WriteEndObject();
    }

    private static void WriteNumber(Utf8JsonWriter json, string name, long? value)
    {
        if (value is long v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteNumber(Utf8JsonWriter json, string name, double? value)
    {
        if (value is double v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static string Gib(long? bytes) =>
        bytes is long b ? (b / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) : "n/a";

    private static string Format(double? value, string format, string unit) =>
        value is double v ? v.ToString(format, CultureInfo.InvariantCulture) + unit : "n/a";
}
