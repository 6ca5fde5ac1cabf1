using Exo.Gpu.Clustering.Backends;
using Spectre.Console;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>What a command talks to: its output streams, its clock, and how it makes backends.</summary>
internal sealed class CliContext
{
    private IAnsiConsole? _console;

    public CliContext(TextWriter output, TextWriter error, TimeProvider time, bool interactive)
    {
        Out = output;
        Error = error;
        Time = time;
        Interactive = interactive;
    }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    public TimeProvider Time { get; }

    /// <summary>Whether output goes to a terminal (colours, live refresh).</summary>
    public bool Interactive { get; }

    /// <summary><see langword="true"/> for <c>--color</c>, <see langword="false"/> for <c>--no-color</c>, <see langword="null"/> to detect (set before the first use of <see cref="Console"/>).</summary>
    public bool? Color { get; set; }

    /// <summary>Whether tables are coloured: <c>--color</c>/<c>--no-color</c>, else not when <c>NO_COLOR</c> is set, else on a terminal.</summary>
    public bool UsesColor => Color ?? (string.IsNullOrEmpty(Environment("NO_COLOR")) && Interactive);

    /// <summary>The console tables are written to (on <see cref="Out"/>), coloured as <see cref="UsesColor"/> says.</summary>
    public IAnsiConsole Console => _console ??= CreateConsole();

    /// <summary>Replaces backend creation (tests inject fault plans or fake libraries); null means the default.</summary>
    public Func<BackendRequest, CancellationToken, ValueTask<BackendSelection>>? BackendFactory { get; init; }

    /// <summary>Reads an environment variable (<c>EXO_GPU_NVML_PATH</c>, <c>CUDA_VISIBLE_DEVICES</c>, …); tests replace it.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;

    public static CliContext FromConsole() =>
        new(System.Console.Out, System.Console.Error, TimeProvider.System, !System.Console.IsOutputRedirected);

    private IAnsiConsole CreateConsole()
    {
        var color = UsesColor;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Out),
            Ansi = color ? AnsiSupport.Yes : Interactive ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = !color ? ColorSystemSupport.NoColors : Interactive ? ColorSystemSupport.Detect : ColorSystemSupport.Standard,
            Interactive = Interactive ? InteractionSupport.Detect : InteractionSupport.No,
        });
        if (!Interactive)
        {
            console.Profile.Width = 200;
        }

        return console;
    }

    public ValueTask<BackendSelection> CreateBackendAsync(BackendRequest request, CancellationToken cancellationToken) =>
        BackendFactory is { } factory ? factory(request, cancellationToken) : BackendChoice.CreateAsync(request, Time, Environment, cancellationToken);
}

/// <summary>A backend a command will use, and how it was chosen.</summary>
/// <param name="Backend">The backend; the command disposes it.</param>
/// <param name="Name">"simulated" or "nvml".</param>
/// <param name="Note">Why it was chosen, for the table header (e.g. "auto: no NVIDIA driver found").</param>
/// <param name="FallbackReason">Why <c>--backend auto</c> fell back to the simulated cluster, or <see langword="null"/>.</param>
internal sealed record BackendSelection(IGpuBackend Backend, string Name, string? Note, string? FallbackReason = null);
