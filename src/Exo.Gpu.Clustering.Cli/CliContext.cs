using Exo.Gpu.Clustering.Backends;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>What a command talks to: its output streams, its clock, and how it makes backends.</summary>
internal sealed class CliContext
{
    public CliContext(TextWriter output, TextWriter error, TimeProvider time, bool interactive)
    {
        Out = output;
        Error = error;
        Time = time;
        Interactive = interactive;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!interactive)
        {
            Console.Profile.Width = 160;
        }
    }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    public TimeProvider Time { get; }

    /// <summary>Whether output goes to a terminal (colours, live refresh).</summary>
    public bool Interactive { get; }

    public IAnsiConsole Console { get; }

    /// <summary>Replaces backend creation (tests inject fault plans or fake libraries); null means the default.</summary>
    public Func<BackendRequest, CancellationToken, ValueTask<BackendSelection>>? BackendFactory { get; init; }

    /// <summary>Reads an environment variable (<c>EXO_GPU_NVML_PATH</c>, <c>CUDA_VISIBLE_DEVICES</c>, …); tests replace it.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    public static CliContext FromConsole() =>
        new(System.Console.Out, System.Console.Error, TimeProvider.System, !System.Console.IsOutputRedirected);

    public ValueTask<BackendSelection> CreateBackendAsync(BackendRequest request, CancellationToken cancellationToken) =>
        BackendFactory is { } factory ? factory(request, cancellationToken) : BackendChoice.CreateAsync(request, Time, Environment, cancellationToken);
}

/// <summary>A backend a command will use, and how it was chosen.</summary>
/// <param name="Backend">The backend; the command disposes it.</param>
/// <param name="Name">"simulated" or "nvml".</param>
/// <param name="Note">Why it was chosen, for the table header (e.g. "auto: no NVIDIA driver found").</param>
internal sealed record BackendSelection(IGpuBackend Backend, string Name, string? Note);
