using System.Globalization;

namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary>Bad command-line input: exit code 2, the message names the argument.</summary>
internal sealed class ClusterUsageException(string message) : Exception(message);

/// <summary>The options of one command: <c>--name value</c> pairs and <c>--flag</c> switches.</summary>
internal sealed class ClusterCliArgs
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public ClusterCliArgs(IReadOnlyList<string> args, IReadOnlySet<string> flags)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal))
            {
                throw new ClusterUsageException($"unexpected argument '{name}'");
            }

            if (flags.Contains(name))
            {
                _values[name] = null;
            }
            else if (i + 1 < args.Count)
            {
                _values[name] = args[++i];
            }
            else
            {
                throw new ClusterUsageException($"{name} needs a value");
            }
        }
    }

    public bool Flag(string name)
    {
        _used.Add(name);
        return _values.ContainsKey(name);
    }

    public int Int(string name, int fallback, int min, int max)
    {
        _used.Add(name);
        if (!_values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new ClusterUsageException($"{name} must be an integer from {min} to {max}, got '{text}'");
    }

    public string Text(string name, string fallback)
    {
        _used.Add(name);
        return _values.TryGetValue(name, out var text) && !string.IsNullOrWhiteSpace(text) ? text : fallback;
    }

    /// <summary>Throws for any option no command read.</summary>
    public void RejectUnknown()
    {
        foreach (var name in _values.Keys.Where(n => !_used.Contains(n)))
        {
            throw new ClusterUsageException($"unknown option {name}");
        }
    }
}
