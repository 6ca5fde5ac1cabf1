namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// A device-name pattern: a case-insensitive glob (<c>*</c>, <c>?</c>) matched against the whole name when it has a
/// wildcard, otherwise a case-insensitive substring.
/// </summary>
internal sealed class NamePattern
{
    /// <summary>Whether the pattern has a wildcard (glob) or not (substring).</summary>
    private readonly bool _isGlob;

    public NamePattern(string pattern)
    {
        Pattern = pattern;
        _isGlob = pattern.AsSpan().IndexOfAny('*', '?') >= 0;
    }

    /// <summary>The pattern as given.</summary>
    public string Pattern { get; }

    public bool IsMatch(string name) =>
        _isGlob ? Glob(Pattern, name) : name.Contains(Pattern, StringComparison.OrdinalIgnoreCase);

    /// <summary>Iterative glob match with one backtrack point (the last <c>*</c>): linear in practice, never exponential.</summary>
    private static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || char.ToUpperInvariant(pattern[p]) == char.ToUpperInvariant(text[t])))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
