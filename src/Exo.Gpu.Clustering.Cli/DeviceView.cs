using System.Globalization;
using System.Text;
using System.Text.Json;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>The processes of one device, or why they could not be listed.</summary>
/// <param name="Uuid">The device.</param>
/// <param name="Index">Its index.</param>
/// <param name="Processes">The processes, or <see langword="null"/> when not available.</param>
/// <param name="Error">Why the list failed (the device is lost, the driver failed, no answer in time), or <see langword="null"/>.</param>
internal sealed record DeviceProcesses(string Uuid, int Index, IReadOnlyList<GpuProcess>? Processes, string? Error);

/// <summary>The pieces <c>status</c> and <c>watch</c> share: device rows, health, reasons and processes, as table and JSON.</summary>
internal static class DeviceView
{
    /// <summary>Lists the processes of every device through the manager (only when asked: never by the poller).</summary>
    public static async Task<IReadOnlyList<DeviceProcesses>> ReadProcessesAsync(
        GpuClusteringManager manager, IReadOnlyList<GpuDeviceStatus> statuses, CancellationToken cancellationToken)
    {
        var result = new DeviceProcesses[statuses.Count];
        for (var i = 0; i < statuses.Count; i++)
        {
            var device = statuses[i].Device;
            try
            {
                result[i] = new(device.Uuid, device.Index, await manager.GetProcessesAsync(device.Uuid, cancellationToken).ConfigureAwait(false), null);
            }
            catch (Exception e) when (e is GpuBackendException or TimeoutException)
            {
                result[i] = new(device.Uuid, device.Index, null, e.Message);
            }
        }

        return result;
    }

    /// <summary>One row per device, with the health reason of every device that is not Healthy.</summary>
    public static Table DeviceTable(string title, IReadOnlyList<GpuDeviceStatus> rows, bool freshOnly)
    {
        var table = new Table { Title = new TableTitle(Markup.Escape(title)) }
            .AddColumns("#", "UUID", "Name", "Memory used / total", "Util", "Temp", "Power", "Health", "Reason");
        foreach (var row in rows)
        {
            var s = freshOnly && !row.IsFresh ? null : row.Latest;
            table.AddRow(
                row.Device.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(row.Device.Uuid),
                Markup.Escape(row.Device.Name),
                $"{Gib(s?.MemoryUsedBytes)} / {Gib(s?.MemoryTotalBytes ?? row.Device.TotalMemoryBytes)} GiB",
                Format(s?.UtilizationPercent, " %"),
                Format(s?.TemperatureC, " °C"),
                Format(s?.PowerW, " W"),
                HealthMarkup(row.Health),
                Markup.Escape(row.Reason ?? string.Empty));
        }

        return table;
    }

    /// <summary>One row per process (pid, user, name, GPU memory), "not available" for a device that cannot say.</summary>
    public static Table ProcessTable(IReadOnlyList<DeviceProcesses> devices)
    {
        var table = new Table { Title = new TableTitle("processes") }.AddColumns("GPU", "PID", "User", "Name", "Type", "GPU memory");
        foreach (var device in devices)
        {
            var gpu = device.Index.ToString(CultureInfo.InvariantCulture);
            if (device.Processes is not { } processes)
            {
                table.AddRow(gpu, "-", "-", Markup.Escape(device.Error is { } error ? $"not available: {error}" : "not available (the driver cannot list processes)"), "-", "-");
                continue;
            }

            if (processes.Count == 0)
            {
                table.AddRow(gpu, "-", "-", "no process", "-", "-");
            }

            foreach (var p in processes)
            {
                table.AddRow(
                    gpu,
                    p.ProcessId.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(p.User ?? "?"),
                    Markup.Escape(p.Name ?? "?"),
                    KindName(p.Kind),
                    p.UsedMemoryBytes is long bytes ? Mib(bytes) : "n/a");
            }
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

    /// <summary>Writes <c>"backend"</c> and, when <c>--backend auto</c> fell back, <c>"fallbackReason"</c>.</summary>
    public static void WriteBackend(Utf8JsonWriter json, BackendSelection selection)
    {
        json.WriteString("backend", selection.Name);
        if (selection.FallbackReason is { } reason)
        {
            json.WriteString("fallbackReason", reason);
        }
    }

    /// <summary>One device of <c>"devices"</c>: the contract's fields, <c>"reason"</c> when not Healthy, and its processes when listed.</summary>
    public static void WriteDevice(Utf8JsonWriter json, GpuDeviceStatus row, bool freshOnly, DeviceProcesses? processes)
    {
        var s = freshOnly && !row.IsFresh ? null : row.Latest;
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
        if (row.Reason is { } reason)
        {
            json.WriteString("reason", reason);
        }

        if (processes is not null)
        {
            WriteProcesses(json, processes);
        }

        json.WriteEndObject();
    }

    /// <summary>Runs <paramref name="write"/> into a UTF-8 JSON document and returns it as text.</summary>
    public static string Json(bool indented, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented }))
        {
            write(json);
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static void WriteNumber(Utf8JsonWriter json, string name, long? value)
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

    public static void WriteNumber(Utf8JsonWriter json, string name, double? value)
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

    public static string Gib(long? bytes) =>
        bytes is long b ? (b / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) : "n/a";

    /// <summary><c>"processes"</c>: an array of <c>{pid, user, name, type, usedMemoryBytes}</c>, or <see langword="null"/> (with <c>"processesError"</c> when the list failed).</summary>
    private static void WriteProcesses(Utf8JsonWriter json, DeviceProcesses device)
    {
        if (device.Processes is not { } processes)
        {
            json.WriteNull("processes");
            if (device.Error is { } error)
            {
                json.WriteString("processesError", error);
            }

            return;
        }

        json.WriteStartArray("processes");
        foreach (var p in processes)
        {
            json.WriteStartObject();
            json.WriteNumber("pid", p.ProcessId);
            WriteString(json, "user", p.User);
            WriteString(json, "name", p.Name);
            json.WriteString("type", KindName(p.Kind));
            WriteNumber(json, "usedMemoryBytes", p.UsedMemoryBytes);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteString(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    /// <summary>C, G or C+G, as nvidia-smi and nvitop print the type.</summary>
    private static string KindName(GpuProcessKind kind) => kind switch
    {
        GpuProcessKind.Compute => "C",
        GpuProcessKind.Graphics => "G",
        GpuProcessKind.Compute | GpuProcessKind.Graphics => "C+G",
        _ => "?",
    };

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024)).ToString("0", CultureInfo.InvariantCulture) + " MiB";

    private static string Format(double? value, string unit) =>
        value is double v ? v.ToString("0", CultureInfo.InvariantCulture) + unit : "n/a";
}
