using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Cli.Commands;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>The <c>exo-gpu</c> entry point: dispatches a command and maps failures to exit codes.</summary>
internal static class CliApp
{
    public const int Success = 0;
    public const int BadArguments = 2;
    public const int NoDevice = 3;

    private static readonly (string Name, string Summary, Func<CliArguments, CliContext, CancellationToken, Task<int>> Run, string[] Values, string[] Flags)[] Commands =
    [
        ("status", "one row per device: memory, utilization, temperature, power, health", StatusCommand.RunAsync, StatusCommand.ValueOptions, StatusCommand.Flags),
        ("plan", "split N items exactly across devices by weight, memory or compute", PlanCommand.RunAsync, PlanCommand.ValueOptions, PlanCommand.Flags),
        ("simulate", "run a seeded job stream through the library on the simulated cluster, in simulated time", SimulateCommand.RunAsync, SimulateCommand.ValueOptions, SimulateCommand.Flags),
        ("watch", "a live view of every device, refreshed each --interval until Ctrl+C or --count refreshes", WatchCommand.RunAsync, WatchCommand.ValueOptions, WatchCommand.Flags),
        ("select", "pick device(s) for --memory/--count now (as GPUtil does); --explain says why; exit 3 when nothing fits", SelectCommand.RunAsync, SelectCommand.ValueOptions, SelectCommand.Flags),
    ];

    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            await WriteUsageAsync(args.Length == 0 ? context.Error : context.Out).ConfigureAwait(false);
            return args.Length == 0 ? BadArguments : Success;
        }

        var command = Array.Find(Commands, c => c.Name == args[0]);
        if (command.Name is null)
        {
            await context.Error.WriteLineAsync($"exo-gpu: {args[0]}: unknown command. Run 'exo-gpu --help'.").ConfigureAwait(false);
            return BadArguments;
        }

        try
        {
            var parsed = CliArguments.Parse(args[1..], command.Values, command.Flags);
            return await command.Run(parsed, context, cancellationToken).ConfigureAwait(false);
        }
        catch (CliUsageException e)
        {
            await context.Error.WriteLineAsync($"exo-gpu {command.Name}: {e.Message}").ConfigureAwait(false);
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

    private static async Task WriteUsageAsync(TextWriter writer)
    {
        await writer.WriteLineAsync("usage: exo-gpu <command> [options]").ConfigureAwait(false);
        await writer.WriteLineAsync().ConfigureAwait(false);
        foreach (var c in Commands)
        {
            await writer.WriteLineAsync($"  {c.Name,-10} {c.Summary}").ConfigureAwait(false);
        }

        await writer.WriteLineAsync().ConfigureAwait(false);
        await writer.WriteLineAsync("Exit codes: 0 success, 2 bad arguments, 3 no usable device or backend.").ConfigureAwait(false);
    }
}
