using System.Text;
using Exo.Gpu.Clustering.Scheduling;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>
/// The one map between <c>--strategy</c> and <see cref="GpuSelectionStrategy"/>: the command line speaks the API's
/// vocabulary, each name in kebab case (<c>BestScore</c> is <c>best-score</c>, <c>PowerOfTwoChoices</c> is
/// <c>power-of-two-choices</c>); the short names of earlier versions (<c>best</c>, <c>most-free</c>, <c>least-used</c>,
/// <c>two-choices</c>) are still read, and reports always print the full name.
/// </summary>
internal static class StrategyNames
{
    /// <summary>The earlier short names, still accepted.</summary>
    private static readonly (string Alias, GpuSelectionStrategy Strategy)[] Aliases =
    [
        ("best", GpuSelectionStrategy.BestScore),
        ("most-free", GpuSelectionStrategy.MostFreeMemory),
        ("least-used", GpuSelectionStrategy.LeastUtilized),
        ("two-choices", GpuSelectionStrategy.PowerOfTwoChoices),
    ];

    /// <summary>Every strategy and its name, in the enum's order.</summary>
    private static readonly (string Name, GpuSelectionStrategy Strategy)[] Names =
        [.. Enum.GetValues<GpuSelectionStrategy>().Select(s => (Kebab(s.ToString()), s))];

    /// <summary>The names <c>--strategy</c> takes, for help and errors (aliases not listed).</summary>
    public static IEnumerable<string> All => Names.Select(n => n.Name);

    /// <summary>The command-line name of <paramref name="strategy"/>.</summary>
    public static string Of(GpuSelectionStrategy strategy) => Array.Find(Names, n => n.Strategy == strategy).Name;

    /// <summary>Reads a name or an alias.</summary>
    /// <exception cref="CliUsageException">Neither: the message names <c>--strategy</c> and lists the names.</exception>
    public static GpuSelectionStrategy Parse(string text)
    {
        foreach (var (name, strategy) in Names)
        {
            if (name == text)
            {
                return strategy;
            }
        }

        foreach (var (alias, strategy) in Aliases)
        {
            if (alias == text)
            {
                return strategy;
            }
        }

        throw new CliUsageException("--strategy", $"must be one of {string.Join('|', All)}, got '{text}'.");
    }

    private static string Kebab(string pascal)
    {
        var builder = new StringBuilder(pascal.Length + 4);
        for (var i = 0; i < pascal.Length; i++)
        {
            var c = pascal[i];
            if (char.IsUpper(c))
            {
                // "RandomTopK" is random-top-k: a capital starts a word.
                if (i > 0)
                {
                    builder.Append('-');
                }

                builder.Append(char.ToLowerInvariant(c));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
