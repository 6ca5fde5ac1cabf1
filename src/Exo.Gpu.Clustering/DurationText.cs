using System.Globalization;

namespace Exo.Gpu.Clustering;

/// <summary>
/// Reads times written the short way, as command lines and fault plans write them: <c>500ms</c>, <c>1.5s</c>,
/// <c>2m</c>, <c>1h</c>. Invariant culture; no negative, non-finite or out-of-range values.
/// </summary>
public static class DurationText
{
    /// <summary>The units, longest suffix first so <c>ms</c> is not read as <c>m</c>.</summary>
    private static readonly (string Suffix, double Seconds)[] Units = [("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)];

    /// <summary>Reads a time such as <c>500ms</c>, <c>30s</c>, <c>2m</c> or <c>1h</c>.</summary>
    /// <param name="text">The text: a non-negative number followed by <c>ms</c>, <c>s</c>, <c>m</c> or <c>h</c>.</param>
    /// <param name="value">The time when the text is valid; <see cref="TimeSpan.Zero"/> otherwise.</param>
    /// <returns>Whether the text is a valid time.</returns>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = default;
        if (text is null)
        {
            return false;
        }

        foreach (var (suffix, scale) in Units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text.AsSpan(0, text.Length - suffix.Length), NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                && double.IsFinite(number) && number >= 0 && number * scale < TimeSpan.MaxValue.TotalSeconds)
            {
                value = TimeSpan.FromSeconds(number * scale);
                return true;
            }
        }

        return false;
    }

    /// <summary>Reads a time such as <c>500ms</c>, <c>30s</c>, <c>2m</c> or <c>1h</c>.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The time.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException"><paramref name="text"/> is not a non-negative number followed by ms, s, m or h, or is too large.</exception>
    public static TimeSpan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParse(text, out var value)
            ? value
            : throw new FormatException($"'{text}' is not a time such as 500ms, 30s, 2m or 1h.");
    }
}
