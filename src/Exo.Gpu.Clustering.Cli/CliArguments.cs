using System.Globalization;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>
/// A small, strict parser: <c>--name value</c>, <c>--name=value</c> and flags. Unknown options, missing values and
/// repeated options are usage errors that name the argument.
/// </summary>
internal sealed class CliArguments
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);

    private CliArguments()
    {
    }

    /// <summary>Parses <paramref name="args"/> against the options a command accepts.</summary>
    /// <param name="args">The arguments after the command name.</param>
    /// <param name="valueOptions">Options that take a value (without the leading dashes).</param>
    /// <param name="flags">Options that take none.</param>
    public static CliArguments Parse(IReadOnlyList<string> args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flags)
    {
        var parsed = new CliArguments();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new CliUsageException(arg, "unexpected argument.");
            }

            var name = arg[2..];
            string? value = null;
            var eq = name.IndexOf('=', StringComparison.Ordinal);
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }

            var display = "--" + name;
            if (flags.Contains(name))
            {
                if (value is not null)
                {
                    throw new CliUsageException(display, "takes no value.");
                }
            }
            else if (valueOptions.Contains(name))
            {
                if (value is null)
                {
                    if (i + 1 >= args.Count)
                    {
                        throw new CliUsageException(display, "needs a value.");
                    }

                    value = args[++i];
                }
            }
            else
            {
                throw new CliUsageException(display, "unknown option.");
            }

            if (!parsed._values.TryAdd(name, value))
            {
                throw new CliUsageException(display, "given more than once.");
            }
        }

        return parsed;
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;

    public int GetInt(string name, int defaultValue, int min, int max)
    {
        if (Get(name) is not { } text)
        {
            return defaultValue;
        }

        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new CliUsageException("--" + name, $"must be a whole number from {min} to {max}, got '{text}'.");
        }

        return value;
    }

    public double GetDouble(string name, double defaultValue, double min, double max)
    {
        if (Get(name) is not { } text)
        {
            return defaultValue;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < min || value > max)
        {
            throw new CliUsageException("--" + name, $"must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}, got '{text}'.");
        }

        return value;
    }

    /// <summary>Reads a time such as <c>500ms</c>, <c>1s</c>, <c>2m</c> (a bare number means seconds).</summary>
    public TimeSpan GetDuration(string name, TimeSpan defaultValue, TimeSpan min)
    {
        if (Get(name) is not { } text)
        {
            return defaultValue;
        }

        // A bare number means seconds; otherwise the units the fault plan reads (ms, s, m, h).
        var withUnit = text.Length > 0 && char.IsAsciiDigit(text[^1]) ? text + "s" : text;
        if (!DurationText.TryParse(withUnit, out var value) || value < min)
        {
            throw new CliUsageException("--" + name, $"must be a time of at least {min.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms such as 1s or 500ms, got '{text}'.");
        }

        return value;
    }

    public string GetChoice(string name, string defaultValue, params string[] choices)
    {
        var text = Get(name) ?? defaultValue;
        if (Array.IndexOf(choices, text) < 0)
        {
            throw new CliUsageException("--" + name, $"must be one of {string.Join('|', choices)}, got '{text}'.");
        }

        return text;
    }
}
