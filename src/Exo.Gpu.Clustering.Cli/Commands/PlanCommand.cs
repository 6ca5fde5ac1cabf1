using System.Globalization;
using System.Text.Json;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Distribution;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary>
/// <c>exo-gpu plan --items N (--weights w1,w2,... | --by uniform|memory|compute) [--method hamilton|webster|dhondt]
/// [--caps c1,c2,...] [--min M] [--allow-unassigned] [--json]</c>: how N items split across devices.
/// </summary>
/// <remarks>
/// <c>--by</c> takes the devices from the backend (<c>--backend</c>, <c>--profile</c>, <c>--devices</c>, …, as
/// <c>status</c>); those options are refused with <c>--weights</c>. <c>--min M</c> is a minimum for every device.
/// When the caps cannot hold every item the command fails with exit code 2 naming <c>--caps</c>, unless
/// <c>--allow-unassigned</c> is given: then the devices are filled to their caps and the rest is reported as
/// <c>unassigned</c>. Like <c>select</c>, <c>--by</c> never plans over simulated devices unless asked: without
/// <c>--backend</c> it uses NVML, and a missing driver is exit code 3.
/// </remarks>
internal static class PlanCommand
{
    public static readonly string[] ValueOptions = ["items", "weights", "by", "method", "caps", "min", .. BackendRequest.ValueOptions];
    public static readonly string[] Flags = ["json", "allow-unassigned"];

    public static readonly CommandHelp Help = new(
        "plan --items N (--weights w1,w2,... | --by uniform|memory|compute) [--method hamilton|webster|dhondt] [--caps c1,c2,...] [--min M] [--allow-unassigned] [--json] [--backend nvml|simulated|auto]",
        "Splits N items exactly (the counts add up to N) into contiguous ranges, by the weights given or by the devices'\n"
        + "memory or compute. --by reads the devices from the backend: real devices only unless --backend simulated or auto.",
        [
            ("--items N", "how many items (required)"),
            ("--weights w1,w2,...", "one weight per device (no backend is read)"),
            ("--by uniform|memory|compute", "weights from the devices: equal, total memory, or SM count x max SM clock"),
            ("--method hamilton|webster|dhondt", "how fractions are rounded (default hamilton: largest remainder)"),
            ("--caps c1,c2,...", "at most this many items per device"),
            ("--min M", "at least M items per device"),
            ("--allow-unassigned", "when the caps cannot hold every item, fill them and report the rest as unassigned (else exit 2)"),
            ("--json", "{\"method\", \"counts\": [...], \"unassigned\", \"backend\" (with --by), \"fallbackReason\"?}"),
            .. CommandHelp.BackendOptions,
        ],
        [
            ("exo-gpu plan --items 1000 --weights 2,1,1", "500, 250, 250"),
            ("exo-gpu plan --items 1000000 --by memory --json", "split by the memory of this host's GPUs"),
        ]);

    private static readonly string[] Methods = ["hamilton", "webster", "dhondt"];
    private static readonly string[] Sources = ["uniform", "memory", "compute"];

    public static async Task<int> RunAsync(CliArguments args, CliContext context, CancellationToken cancellationToken)
    {
        var items = GetCount(args, "items") ?? throw new CliUsageException("--items", "is required: how many items to split.");
        var methodName = args.GetChoice("method", "hamilton", Methods);
        var method = methodName switch
        {
            "webster" => ApportionmentMethod.Webster,
            "dhondt" => ApportionmentMethod.DHondt,
            _ => ApportionmentMethod.Hamilton,
        };
        var minimum = GetCount(args, "min");
        var allowUnassigned = args.Has("allow-unassigned");

        if (args.Has("weights") == args.Has("by"))
        {
            throw args.Has("weights")
                ? new CliUsageException("--by", "cannot be combined with --weights.")
                : new CliUsageException("--weights", "give --weights w1,w2,... or --by uniform|memory|compute.");
        }

        double[] weights;
        BackendSelection? selection = null;
        IReadOnlyList<GpuDevice>? devices = null;
        string source;
        if (args.Has("weights"))
        {
            if (Array.Find(BackendRequest.ValueOptions, args.Has) is { } option)
            {
                throw new CliUsageException("--" + option, "applies only with --by (with --weights the weights are the devices).");
            }

            weights = ParseList(args.Get("weights")!, "--weights", ParseWeight);
            source = "weights";
        }
        else
        {
            var by = args.GetChoice("by", "uniform", Sources);
            selection = await context.CreateBackendAsync(BackendRequest.FromArguments(args, realDevicesOnly: true), cancellationToken).ConfigureAwait(false);
            await BackendChoice.WarnIfFellBackAsync(context, "plan", selection).ConfigureAwait(false);
            var snapshot = await CliCluster.ReadOnceAsync(context, selection, cancellationToken).ConfigureAwait(false);
            devices = [.. snapshot.Devices.Select(d => d.Device)];

            if (devices.Count == 0)
            {
                throw new CliNoDeviceException($"the {selection.Name} backend found no device.");
            }

            try
            {
                weights = DeviceWeights.From(devices, by switch
                {
                    "memory" => DeviceWeightSource.TotalMemory,
                    "compute" => DeviceWeightSource.Compute,
                    _ => DeviceWeightSource.Uniform,
                });
            }
            catch (ArgumentException e)
            {
                throw new CliUsageException("--by", FirstLine(e));
            }

            source = $"by {by}, {selection.Name} backend";
        }

        var caps = args.Get("caps") is { } capsText ? ParseList(capsText, "--caps", ParseCap) : null;
        var minimums = minimum is long m ? Enumerable.Repeat(m, weights.Length).ToArray() : null;

        DistributionPlan plan;
        try
        {
            plan = WorkloadDistributor.Plan(items, weights, method, minimums, caps, allowUnassigned);
        }
        catch (InsufficientCapacityException e)
        {
            throw new CliUsageException("--caps", $"the caps hold {e.Capacity} of the {e.Items} items; raise a cap, or pass --allow-unassigned to leave the rest unassigned.");
        }
        catch (ArgumentException e)
        {
            var option = e.ParamName switch
            {
                "items" => "--items",
                "minimums" => "--min",
                "caps" => "--caps",
                _ => args.Has("weights") ? "--weights" : "--by",
            };
            throw new CliUsageException(option, FirstLine(e));
        }

        if (args.Has("json"))
        {
            await context.Out.WriteLineAsync(ToJson(methodName, plan, selection)).ConfigureAwait(false);
        }
        else
        {
            await context.Out.WriteLineAsync(
                string.Create(CultureInfo.InvariantCulture, $"plan: {methodName}, {plan.TotalItems} items over {plan.DeviceCount} devices ({source})")).ConfigureAwait(false);
            context.Console.Write(ToTable(plan, weights, source, devices));
            if (plan.Unassigned > 0)
            {
                await context.Out.WriteLineAsync(
                    string.Create(CultureInfo.InvariantCulture, $"unassigned: {plan.Unassigned} (the caps hold {plan.Assigned} of the {plan.TotalItems} items)")).ConfigureAwait(false);
            }
        }

        return CliApp.Success;
    }

    /// <summary>The contract's shape: <c>{"method":"hamilton","counts":[...],"unassigned":N}</c>, then, with <c>--by</c>, the backend.</summary>
    public static string ToJson(string method, DistributionPlan plan, BackendSelection? selection = null)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("method", method);
            json.WriteStartArray("counts");
            foreach (var count in plan.Counts)
            {
                json.WriteNumberValue(count);
            }

            json.WriteEndArray();
            json.WriteNumber("unassigned", plan.Unassigned);
            if (selection is not null)
            {
                DeviceView.WriteBackend(json, selection); // --by: the devices came from a backend (--weights reads none)
            }

            json.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static Table ToTable(DistributionPlan plan, double[] weights, string source, IReadOnlyList<GpuDevice>? devices)
    {
        var table = new Table();
        table.AddColumn("#");
        if (devices is not null)
        {
            table.AddColumn("Device");
        }

        table.AddColumns("Weight", "Share", "Items", "Range");
        var total = weights.Sum();
        for (var i = 0; i < plan.DeviceCount; i++)
        {
            var cells = new List<string> { i.ToString(CultureInfo.InvariantCulture) };
            if (devices is not null)
            {
                cells.Add(devices[i].Name);
            }

            var ranges = plan.GetRanges(i);
            cells.Add(FormatWeight(weights[i], source, devices?[i]));
            cells.Add((weights[i] / total * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %");
            cells.Add(plan.Counts[i].ToString(CultureInfo.InvariantCulture));
            cells.Add(ranges.Count == 0 ? "-" : string.Join(", ", ranges.Select(r => string.Create(CultureInfo.InvariantCulture, $"[{r.Offset}, {r.End})"))));
            table.AddRow(cells.Select(Markup.Escape).ToArray());
        }

        return table;
    }

    private static string FormatWeight(double weight, string source, GpuDevice? device) => source switch
    {
        _ when source.StartsWith("by memory", StringComparison.Ordinal) => (weight / (1L << 30)).ToString("0.0", CultureInfo.InvariantCulture) + " GiB",
        _ when source.StartsWith("by compute", StringComparison.Ordinal) && device is not null =>
            string.Create(CultureInfo.InvariantCulture, $"{device.MultiprocessorCount} SM x {device.MaxSmClockMHz} MHz"),
        _ => weight.ToString("0.###", CultureInfo.InvariantCulture),
    };

    private static long? GetCount(CliArguments args, string name)
    {
        if (args.Get(name) is not { } text)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > WorkloadDistributor.MaxItems)
        {
            throw new CliUsageException("--" + name, string.Create(CultureInfo.InvariantCulture, $"must be a whole number from 0 to {WorkloadDistributor.MaxItems}, got '{text}'."));
        }

        return value;
    }

    private static T[] ParseList<T>(string text, string option, Func<string, T?> parse)
        where T : struct
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new T[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            values[i] = parse(parts[i]) ?? throw new CliUsageException(option, $"'{parts[i]}' is not a number (entry {i + 1} of '{text}').");
        }

        return values;
    }

    private static double? ParseWeight(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;

    private static long? ParseCap(string text) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) ? value : null;

    /// <summary>The exception's message without the "(Parameter 'x')" suffix and the "Actual value" line.</summary>
    private static string FirstLine(ArgumentException e)
    {
        var message = e.Message.Split('\n')[0].TrimEnd();
        var suffix = $" (Parameter '{e.ParamName}')";
        return message.EndsWith(suffix, StringComparison.Ordinal) ? message[..^suffix.Length] : message;
    }
}
