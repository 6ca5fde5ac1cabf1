using System.Reflection;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Cli.Commands;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>The <c>exo-gpu</c> entry point: global options, help and version, dispatch, and failures mapped to exit codes.</summary>
internal static class CliApp
{
    public const int Success = 0;
    public const int BadArguments = 2;
    public const int NoDevice = 3;

    internal static readonly CliCommand[] Commands =
    [
        new("status", "one row per device: memory, utilization, temperature, power, health and why; --processes for who uses each GPU", StatusCommand.RunAsync, StatusCommand.ValueOptions, StatusCommand.Flags, StatusCommand.Help),
        new("watch", "a live view of every device, refreshed each --interval until Ctrl+C or --count refreshes; --json for one line per refresh", WatchCommand.RunAsync, WatchCommand.ValueOptions, WatchCommand.Flags, WatchCommand.Help),
        new("select", "pick device(s) for --memory/--count now (as GPUtil does); --explain says why; exit 3 when nothing fits", SelectCommand.RunAsync, SelectCommand.ValueOptions, SelectCommand.Flags, SelectCommand.Help),
        new("plan", "split N items exactly across devices by weight, memory or compute", PlanCommand.RunAsync, PlanCommand.ValueOptions, PlanCommand.Flags, PlanCommand.Help),
        new("simulate", "run a seeded job stream through the library on the simulated cluster, in simulated time", SimulateCommand.RunAsync, SimulateCommand.ValueOptions, SimulateCommand.Flags, SimulateCommand.Help),
    ];

    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken)
    {
        var rest = new List<string>(args.Length);
        foreach (var arg in args)
        {
            if (arg is "--color" or "--no-color")
            {
                var color = arg == "--color";
                if (context.Color is bool given && given != color)
                {
                    await context.Error.WriteLineAsync("exo-gpu: --color and --no-color cannot be combined.").ConfigureAwait(false);
                    return BadArguments;
                }

                context.Color = color;
            }
            else
            {
                rest.Add(arg);
            }
        }

        if (rest.Count == 0)
        {
            await context.Error.WriteAsync(GeneralHelp()).ConfigureAwait(false);
            return BadArguments;
        }

        switch (rest[0])
        {
            case "-h" or "--help":
                await context.Out.WriteAsync(GeneralHelp()).ConfigureAwait(false);
                return Success;
            case "help":
                return await HelpAsync(rest, context).ConfigureAwait(false);
            case "--version":
                return await VersionAsync(rest, context, cancellationToken).ConfigureAwait(false);
        }

        var command = Array.Find(Commands, c => c.Name == rest[0]);
        if (command is null)
        {
            await context.Error.WriteLineAsync($"exo-gpu: {rest[0]}: unknown command. Run 'exo-gpu --help'.").ConfigureAwait(false);
            return BadArguments;
        }

        if (rest.Skip(1).Any(a => a is "-h" or "--help"))
        {
            await context.Out.WriteAsync(command.HelpText()).ConfigureAwait(false);
            return Success;
        }

        try
        {
            var parsed = CliArguments.Parse(rest[1..], command.Values, command.Flags);
            return await command.Run(parsed, context, cancellationToken).ConfigureAwait(false);
        }
        catch (CliUsageException e)
        {
            await context.Error.WriteLineAsync($"exo-gpu {command.Name}: {e.Message} Run 'exo-gpu {command.Name} --help'.").ConfigureAwait(false);
            return BadArguments;
        }
        catch (CliNoDeviceException e)
        {
            await context.Error.WriteLineAsync($"exo-gpu {command.Name}: {e.Message}").ConfigureAwait(false);
            return NoDevice;
        }
        catch (GpuBackendUnavailableException e)
        {
            await context.Error.WriteLineAsync($"exo-gpu {command.Name}: {e.Message}").ConfigureAwait(false);
            return NoDevice;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Success;
        }
    }

    /// <summary>The general help: every command, the global options and the exit codes.</summary>
    public static string GeneralHelp()
    {
        var text = new System.Text.StringBuilder();
        text.Append("usage: exo-gpu <command> [options]\n");
        text.Append("       exo-gpu help <command> | exo-gpu <command> --help | exo-gpu --version [--json]\n\n");
        text.Append("Commands:\n");
        foreach (var c in Commands)
        {
            text.Append("  ").Append(c.Name.PadRight(10)).Append(' ').Append(c.Summary).Append('\n');
        }

        text.Append("\nGlobal options:\n");
        foreach (var (option, meaning) in CommandHelp.GlobalOptions)
        {
            text.Append("  ").Append(option.PadRight(20)).Append(' ').Append(meaning).Append('\n');
        }

        text.Append("  --version            the version (--json: with the library, NVIDIA driver and CUDA versions)\n");
        text.Append("\nExample:\n  CUDA_VISIBLE_DEVICES=$(exo-gpu select --memory 20GiB --format uuid) python train.py\n");
        text.Append("\nExit codes: 0 success, 2 bad arguments, 3 no usable device, backend, or not enough devices.\n");
        return text.ToString();
    }

    private static async Task<int> HelpAsync(List<string> rest, CliContext context)
    {
        if (rest.Count == 1)
        {
            await context.Out.WriteAsync(GeneralHelp()).ConfigureAwait(false);
            return Success;
        }

        var command = rest.Count == 2 ? Array.Find(Commands, c => c.Name == rest[1]) : null;
        if (command is null)
        {
            await context.Error.WriteLineAsync($"exo-gpu help: {string.Join(' ', rest.Skip(1))}: unknown command. Commands: {string.Join(", ", Commands.Select(c => c.Name))}.").ConfigureAwait(false);
            return BadArguments;
        }

        await context.Out.WriteAsync(command.HelpText()).ConfigureAwait(false);
        return Success;
    }

    /// <summary><c>--version</c>: the tool's version; with <c>--json</c> also the library's and, when NVML loads, the driver's and CUDA's.</summary>
    private static async Task<int> VersionAsync(List<string> rest, CliContext context, CancellationToken cancellationToken)
    {
        var json = rest.Count == 2 && rest[1] == "--json";
        if (rest.Count > 2 || (rest.Count == 2 && !json))
        {
            await context.Error.WriteLineAsync($"exo-gpu --version: {rest[1]}: unexpected argument (only --json).").ConfigureAwait(false);
            return BadArguments;
        }

        var tool = VersionOf(typeof(CliApp).Assembly);
        var library = VersionOf(typeof(GpuClusteringManager).Assembly);
        if (!json)
        {
            await context.Out.WriteLineAsync($"exo-gpu {tool} (Exo.Gpu.Clustering {library})").ConfigureAwait(false);
            return Success;
        }

        string? driver = null, cuda = null, unavailable = null;
        try
        {
            var selection = await context.CreateBackendAsync(new BackendRequest("nvml", "homogeneous", null, 1, null), cancellationToken).ConfigureAwait(false);
            await using (selection.Backend.ConfigureAwait(false))
            {
                if (selection.Backend is NvmlGpuBackend nvml)
                {
                    driver = nvml.DriverVersion;
                    cuda = nvml.CudaDriverVersion;
                }
            }
        }
        catch (GpuBackendUnavailableException e)
        {
            unavailable = e.Message;
        }

        await context.Out.WriteLineAsync(DeviceView.Json(indented: true, w =>
        {
            w.WriteStartObject();
            w.WriteString("version", tool);
            w.WriteString("library", library);
            if (unavailable is null)
            {
                w.WriteString("backend", "nvml");
            }
            else
            {
                w.WriteNull("backend");
            }

            Write(w, "driverVersion", driver);
            Write(w, "cudaDriverVersion", cuda);
            if (unavailable is not null)
            {
                w.WriteString("nvmlUnavailableReason", unavailable);
            }

            w.WriteEndObject();
        })).ConfigureAwait(false);
        return Success;

        static void Write(System.Text.Json.Utf8JsonWriter w, string name, string? value)
        {
            if (value is null)
            {
                w.WriteNull(name);
            }
            else
            {
                w.WriteString(name, value);
            }
        }
    }

    /// <summary>The informational version without the source revision (<c>0.1.0</c>, not <c>0.1.0+abc123</c>).</summary>
    private static string VersionOf(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString() ?? "unknown";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus >= 0 ? version[..plus] : version;
    }
}

/// <summary>One command: its name, summary, entry point, the options it parses, and its help.</summary>
internal sealed record CliCommand(
    string Name,
    string Summary,
    Func<CliArguments, CliContext, CancellationToken, Task<int>> Run,
    string[] Values,
    string[] Flags,
    CommandHelp Help)
{
    public string HelpText() => Help.Render(Name, char.ToUpperInvariant(Summary[0]) + Summary[1..]);
}
