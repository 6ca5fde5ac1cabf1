using System.Globalization;
using System.Text.Json;
using Exo.Gpu.Clustering.Scheduling;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary>
/// <c>exo-gpu select [--memory 20GiB] [--count N] [--strategy best-score|most-free-memory|least-utilized|best-fit|round-robin|random-top-k|power-of-two-choices]
/// [--max-util P] [--max-temp C] [--exclude i,j] [--explain] [--json] [--format index|uuid]</c>: picks device(s) now,
/// as scripts use GPUtil (<c>CUDA_VISIBLE_DEVICES=$(exo-gpu select --memory 20GiB --format uuid)</c>).
/// </summary>
/// <remarks>
/// Starts a manager without its poller (every device read once), then asks its device selector; nothing is reserved (another
/// process may pick the same device: <c>power-of-two-choices</c> spreads concurrent scripts). Prints the chosen devices,
/// comma-separated, by index (the backend's, NVML's, numbering) or UUID; UUIDs are what <c>CUDA_VISIBLE_DEVICES</c>
/// understands whatever <c>CUDA_DEVICE_ORDER</c> is. <c>--explain</c> lists every device with its verdict and reasons.
/// Sizes take a unit: B, KiB, MiB, GiB, TiB (K, M, G, T mean the same), or KB, MB, GB, TB (powers of 1000); a bare
/// number is bytes. Exit code 3 when nothing fits, with the nearest device and why on stderr, and when the request asks
/// for more devices than there are. Never a simulated device unless asked: without <c>--backend</c> the backend is NVML,
/// and a missing driver is exit code 3 with the reason on stderr and nothing on stdout.
/// </remarks>
internal static class SelectCommand
{
    public static readonly string[] ValueOptions = [.. BackendRequest.ValueOptions, "memory", "count", "strategy", "max-util", "max-temp", "exclude", "format"];
    public static readonly string[] Flags = ["explain", "json"];

    public static readonly CommandHelp Help = new(
        "select [--memory 20GiB] [--count N] [--strategy S] [--max-util P] [--max-temp C] [--exclude i,j] [--explain] [--json] [--format index|uuid] [--backend nvml|simulated|auto]",
        "Picks device(s) now, as scripts use GPUtil, and prints them comma-separated on stdout; nothing is reserved.\n"
        + "Real devices only: without --backend it uses NVML and, with no usable driver, exits 3 with the reason on stderr\n"
        + "and nothing on stdout; --backend simulated (or auto) allows the simulated cluster. Exit 3 also when nothing fits\n"
        + "(the nearest device and why on stderr) or when --count exceeds the devices there are.",
        [
            ("--memory SIZE", "free memory each device needs, after reservations: 20GiB, 512MiB, 1.5GB, or bytes (default 0)"),
            ("--count N", "how many devices (1-1024, default 1)"),
            ("--strategy S", "how to rank eligible devices: " + string.Join('|', StrategyNames.All) + " (default best-score)"),
            ("--max-util P", "skip devices busier than P % (0-100)"),
            ("--max-temp C", "skip devices hotter than C °C"),
            ("--exclude i,j", "never pick these device indexes"),
            ("--explain", "list every device with its health (and why it is not Healthy), free memory, score and verdict"),
            ("--json", "{\"backend\", \"fallbackReason\"?, \"strategy\", \"chosen\": [{\"index\", \"uuid\", \"name\"}], \"nearest\", \"devices\"? (with --explain)}"),
            ("--format index|uuid", "print indexes (NVML numbering, default) or UUIDs (what CUDA_VISIBLE_DEVICES takes whatever CUDA_DEVICE_ORDER is)"),
            .. CommandHelp.BackendOptions,
        ],
        [
            ("CUDA_VISIBLE_DEVICES=$(exo-gpu select --memory 20GiB --format uuid) python train.py", "run on a GPU with 20 GiB free"),
            ("exo-gpu select --count 2 --max-temp 80 --explain", "two cool devices, and why the others were not picked"),
            ("exo-gpu select --backend simulated --faults hot:0@0s --explain", "try it on the simulated cluster"),
        ]);

    private static readonly string[] Formats = ["index", "uuid"];

    public static async Task<int> RunAsync(CliArguments args, CliContext context, CancellationToken cancellationToken)
    {
        var memory = args.Get("memory") is { } memoryText ? ParseSize(memoryText, "--memory") : 0;
        var count = args.GetInt("count", 1, 1, 1024);
        var strategy = StrategyNames.Parse(args.Get("strategy") ?? StrategyNames.Of(GpuSelectionStrategy.BestScore));
        var strategyName = StrategyNames.Of(strategy);
        double? maxUtil = args.Has("max-util") ? args.GetDouble("max-util", 100, 0, 100) : null;
        double? maxTemp = args.Has("max-temp") ? args.GetDouble("max-temp", 85, -273, 1000) : null;
        var exclude = args.Get("exclude") is { } excludeText ? ParseIndexes(excludeText, "--exclude") : null;
        var format = args.GetChoice("format", "index", Formats);
        var backendRequest = BackendRequest.FromArguments(args, realDevicesOnly: true);

        GpuRequest request;
        try
        {
            request = new GpuRequest
            {
                MemoryBytes = memory,
                DeviceCount = count,
                Strategy = strategy,
                MaxUtilizationPercent = maxUtil,
                MaxTemperatureC = maxTemp,
                ExcludeIndexes = exclude,
            };
        }
        catch (ArgumentException e)
        {
            throw Usage(e);
        }

        var selection = await context.CreateBackendAsync(backendRequest, cancellationToken).ConfigureAwait(false);
        await BackendChoice.WarnIfFellBackAsync(context, "select", selection).ConfigureAwait(false);
        var manager = await CliCluster.StartOnDemandAsync(
            context,
            selection,
            options => options.Selector = new DeviceSelectorOptions { Seed = backendRequest.Seed },
            cancellationToken).ConfigureAwait(false);
        await using (manager.ConfigureAwait(false))
        {
            GpuSelectionExplanation explanation;
            try
            {
                explanation = manager.Selector.Explain(request);
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == nameof(GpuRequest.DeviceCount))
            {
                // "not enough devices" is exit code 3 by the contract, not a bad argument.
                throw new CliNoDeviceException("not enough devices: " + Lowercase(FirstLine(e)));
            }
            catch (ArgumentException e)
            {
                throw Usage(e);
            }

            var reasons = manager.GetStatuses().ToDictionary(s => s.Device.Uuid, s => s.Reason, StringComparer.Ordinal);
            return await ReportAsync(context, args, selection, strategyName, format, explanation, reasons).ConfigureAwait(false);
        }
    }

    /// <summary>The JSON shape: <c>{"backend":..., "strategy":..., "chosen":[{"index","uuid","name"}], "nearest":..., "devices":[...]}</c> (devices with <c>--explain</c>).</summary>
    public static string ToJson(BackendSelection selection, string strategy, GpuSelectionExplanation explanation, bool withDevices, IReadOnlyDictionary<string, string?> healthReasons)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            DeviceView.WriteBackend(json, selection);
            json.WriteString("strategy", strategy);
            json.WriteStartArray("chosen");
            foreach (var device in explanation.Chosen)
            {
                json.WriteStartObject();
                json.WriteNumber("index", device.Index);
                json.WriteString("uuid", device.Uuid);
                json.WriteString("name", device.Name);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            if (explanation.Nearest is { } nearest)
            {
                json.WriteStartObject("nearest");
                WriteVerdict(json, nearest, chosen: false, healthReasons);
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("nearest");
            }

            if (withDevices)
            {
                json.WriteStartArray("devices");
                foreach (var verdict in explanation.Devices)
                {
                    json.WriteStartObject();
                    WriteVerdict(json, verdict, explanation.Chosen.Contains(verdict.Device), healthReasons);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads a size such as <c>20GiB</c>, <c>512M</c>, <c>1.5 GB</c> or <c>1048576</c> (the library's <see cref="ByteSize"/>).</summary>
    public static long ParseSize(string text, string option)
    {
        try
        {
            return ByteSize.Parse(text);
        }
        catch (ArgumentOutOfRangeException) when (!text.TrimStart().StartsWith('-'))
        {
            throw new CliUsageException(option, $"is too large, got '{text}'.");
        }
        catch (ArgumentException)
        {
            throw new CliUsageException(option, $"must be a size such as 20GiB, 512MiB or 1.5GB, got '{text}'.");
        }
    }

    private static async Task<int> ReportAsync(
        CliContext context, CliArguments args, BackendSelection selection, string strategy, string format, GpuSelectionExplanation explanation, IReadOnlyDictionary<string, string?> healthReasons)
    {
        var explain = args.Has("explain");
        if (args.Has("json"))
        {
            await context.Out.WriteLineAsync(ToJson(selection, strategy, explanation, explain, healthReasons)).ConfigureAwait(false);
        }
        else if (explain)
        {
            context.Console.Write(ToTable(selection, explanation, healthReasons));
            context.Console.WriteLine();
        }

        if (!explanation.Fits)
        {
            var why = explanation.Nearest is { } nearest
                ? $"nearest: {nearest.Device}: {string.Join("; ", Causes(nearest, healthReasons))}."
                : "the cluster has no device.";
            await context.Error.WriteLineAsync($"exo-gpu select: nothing fits {explanation.Request}; {why}").ConfigureAwait(false);
            return CliApp.NoDevice;
        }

        if (!args.Has("json"))
        {
            var chosen = explanation.Chosen.Select(d => format == "uuid" ? d.Uuid : d.Index.ToString(CultureInfo.InvariantCulture));
            await context.Out.WriteLineAsync(string.Join(',', chosen)).ConfigureAwait(false);
        }

        return CliApp.Success;
    }

    private static Table ToTable(BackendSelection selection, GpuSelectionExplanation explanation, IReadOnlyDictionary<string, string?> healthReasons)
    {
        var title = $"backend: {selection.Name}" + (selection.Note is { } note ? $" ({note})" : string.Empty)
            + $" · {explanation.Request}";
        var table = new Table { Title = new TableTitle(Markup.Escape(title)) }
            .AddColumns("#", "UUID", "Name", "Health", "Free after reservations", "Score", "Verdict");
        foreach (var verdict in explanation.Devices)
        {
            var chosen = explanation.Chosen.Contains(verdict.Device);
            table.AddRow(
                verdict.Device.Index.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(verdict.Device.Uuid),
                Markup.Escape(verdict.Device.Name),
                DeviceView.HealthMarkup(verdict.Health),
                Gib(verdict.FreeBytesAfterReservations),
                verdict.Score is { } score ? score.Total.ToString("0.000", CultureInfo.InvariantCulture) : "n/a",
                chosen ? "[green]chosen[/]" : verdict.Eligible ? "eligible" : Markup.Escape(string.Join("; ", Causes(verdict, healthReasons))));
        }

        return table;
    }

    /// <summary>The verdict's reasons, a health one followed by why the device is not Healthy (the telemetry's words).</summary>
    private static IEnumerable<string> Causes(GpuDeviceVerdict verdict, IReadOnlyDictionary<string, string?> healthReasons)
    {
        var healthReason = healthReasons.GetValueOrDefault(verdict.Device.Uuid);
        foreach (var reason in verdict.Reasons)
        {
            yield return healthReason is not null && reason.StartsWith("health ", StringComparison.Ordinal) ? $"{reason}: {healthReason}" : reason;
        }
    }

    private static void WriteVerdict(Utf8JsonWriter json, GpuDeviceVerdict verdict, bool chosen, IReadOnlyDictionary<string, string?> healthReasons)
    {
        json.WriteNumber("index", verdict.Device.Index);
        json.WriteString("uuid", verdict.Device.Uuid);
        json.WriteString("name", verdict.Device.Name);
        json.WriteString("health", verdict.Health.ToString());
        if (healthReasons.GetValueOrDefault(verdict.Device.Uuid) is { } healthReason)
        {
            json.WriteString("healthReason", healthReason);
        }

        json.WriteBoolean("eligible", verdict.Eligible);
        json.WriteBoolean("chosen", chosen);
        json.WriteStartArray("reasons");
        foreach (var reason in Causes(verdict, healthReasons))
        {
            json.WriteStringValue(reason);
        }

        json.WriteEndArray();
        json.WriteNumber("capacityBytes", verdict.CapacityBytes);
        json.WriteNumber("reservedBytes", verdict.ReservedBytes);
        json.WriteNumber("freeBytesAfterReservations", verdict.FreeBytesAfterReservations);
        if (verdict.Score is { } score)
        {
            json.WriteStartObject("score");
            json.WriteNumber("total", score.Total);
            json.WriteNumber("freeMemory", score.FreeMemory);
            WriteNumber(json, "utilization", score.Utilization);
            WriteNumber(json, "temperature", score.Temperature);
            WriteNumber(json, "powerHeadroom", score.PowerHeadroom);
            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("score");
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

    /// <summary>A request the selector refused: exit code 2 naming the option behind the property.</summary>
    private static CliUsageException Usage(ArgumentException e)
    {
        var option = e.ParamName switch
        {
            nameof(GpuRequest.DeviceCount) => "--count",
            nameof(GpuRequest.MemoryBytes) => "--memory",
            nameof(GpuRequest.MaxUtilizationPercent) => "--max-util",
            nameof(GpuRequest.MaxTemperatureC) => "--max-temp",
            _ => "--exclude",
        };
        var message = e.Message;
        var paramNote = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return new CliUsageException(option, paramNote >= 0 ? message[..paramNote] : message);
    }

    /// <summary>The exception's message without the "(Parameter 'x')" suffix and the "Actual value" line.</summary>
    private static string FirstLine(ArgumentException e)
    {
        var message = e.Message.Split('\n')[0].TrimEnd();
        var paramNote = message.IndexOf(" (Parameter '", StringComparison.Ordinal);
        return paramNote >= 0 ? message[..paramNote] : message;
    }

    private static string Lowercase(string sentence) =>
        sentence.Length > 1 && char.IsUpper(sentence[0]) && !char.IsUpper(sentence[1]) ? char.ToLowerInvariant(sentence[0]) + sentence[1..] : sentence;

    private static int[] ParseIndexes(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var indexes = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out indexes[i]))
            {
                throw new CliUsageException(option, $"must be device indexes such as 0,2, got '{text}'.");
            }
        }

        return indexes;
    }

    private static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB";
}
