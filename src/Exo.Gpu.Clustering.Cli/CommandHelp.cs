using System.Text;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>One command's help: usage, what it does, every option it takes, and examples.</summary>
/// <param name="Usage">The synopsis after <c>exo-gpu</c>.</param>
/// <param name="Description">What the command does, in a few lines.</param>
/// <param name="Options">Every option (<c>--name VALUE</c> or <c>--flag</c>) and what it means.</param>
/// <param name="Examples">Command lines with a comment each.</param>
internal sealed record CommandHelp(string Usage, string Description, (string Option, string Meaning)[] Options, (string Command, string Comment)[] Examples)
{
    /// <summary>The options of the backend (<c>status</c>, <c>watch</c>, <c>select</c>, <c>plan --by</c>).</summary>
    public static readonly (string Option, string Meaning)[] BackendOptions =
    [
        ("--backend auto|nvml|simulated", "nvml: the NVIDIA driver (exit 3 without one); simulated: the built-in simulated cluster; auto: NVML when it loads and shows a device, else the simulated cluster, said on stderr"),
        ("--profile homogeneous|heterogeneous", "simulated cluster: eight H100s (default) or a mixed cluster"),
        ("--devices N", "simulated cluster: how many devices (1-1024, default 8)"),
        ("--seed S", "simulated cluster: the seed (default 1)"),
        ("--faults PLAN", "simulated cluster: faults such as hot:1@0s,ecc:2@30s,lost:3@1m+30s,throw:0@0s,hang:4@0s,xid:5@10s#48"),
    ];

    /// <summary>The options every command takes.</summary>
    public static readonly (string Option, string Meaning)[] GlobalOptions =
    [
        ("-h, --help", "this help"),
        ("--color, --no-color", "force colours on or off (default: on a terminal, unless NO_COLOR is set)"),
    ];

    /// <summary>Renders the help as plain text.</summary>
    public string Render(string name, string summary)
    {
        var text = new StringBuilder();
        text.Append("usage: exo-gpu ").Append(Usage).Append('\n').Append('\n');
        text.Append(summary).Append('.').Append('\n');
        if (Description.Length > 0)
        {
            text.Append(Description).Append('\n');
        }

        AppendOptions(text, "Options:", Options);
        AppendOptions(text, "Global options:", GlobalOptions);
        text.Append('\n').Append(Examples.Length == 1 ? "Example:" : "Examples:").Append('\n');
        foreach (var (command, comment) in Examples)
        {
            text.Append("  # ").Append(comment).Append('\n');
            text.Append("  ").Append(command).Append('\n');
        }

        text.Append('\n').Append("Exit codes: 0 success, 2 bad arguments, 3 no usable device, backend, or not enough devices.").Append('\n');
        text.Append("More: exo-gpu help ").Append(name).Append(" | exo-gpu --help").Append('\n');
        return text.ToString();
    }

    private static void AppendOptions(StringBuilder text, string title, (string Option, string Meaning)[] options)
    {
        if (options.Length == 0)
        {
            return;
        }

        text.Append('\n').Append(title).Append('\n');
        var width = Math.Min(36, options.Max(o => o.Option.Length));
        foreach (var (option, meaning) in options)
        {
            text.Append("  ").Append(option.PadRight(width));
            if (option.Length > width)
            {
                text.Append('\n').Append(' ', width + 2);
            }

            text.Append("  ").Append(meaning).Append('\n');
        }
    }
}
