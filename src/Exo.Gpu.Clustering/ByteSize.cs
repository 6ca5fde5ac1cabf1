using System.Globalization;

namespace Exo.Gpu.Clustering;

/// <summary>
/// Reads and writes byte counts as people write them: <c>20GiB</c>, <c>512M</c>, <c>1.5 GB</c>, <c>1048576</c>.
/// </summary>
/// <remarks>
/// <para>
/// A size is a non-negative decimal number (ASCII digits, optionally a point and more digits; no sign, exponent,
/// thousands separator, NaN or infinity), optionally followed by a unit, with optional white space before, between and
/// after. Units, case-insensitive: <c>B</c>; binary <c>K</c>/<c>KiB</c> (1024), <c>M</c>/<c>MiB</c> (1024²),
/// <c>G</c>/<c>GiB</c> (1024³), <c>T</c>/<c>TiB</c> (1024⁴); decimal <c>KB</c> (1000), <c>MB</c> (1000²),
/// <c>GB</c> (1000³), <c>TB</c> (1000⁴). No unit means bytes. The culture never matters: the decimal point is
/// always <c>.</c>.
/// </para>
/// <para>
/// The value is computed exactly (in <see cref="decimal"/>, not <see cref="double"/>) and rounded to the nearest byte,
/// halves to even (<c>2.5B</c> is 2 bytes, <c>0.5KiB</c> is 512). It must be at most <see cref="long.MaxValue"/>.
/// </para>
/// </remarks>
public static class ByteSize
{
    private const long KiB = 1L << 10;
    private const long MiB = 1L << 20;
    private const long GiB = 1L << 30;

    /// <summary>The units <see cref="Parse"/> reads, with their scales.</summary>
    private static readonly (string Name, long Scale)[] Units =
    [
        ("B", 1),
        ("K", KiB), ("KiB", KiB),
        ("M", MiB), ("MiB", MiB),
        ("G", GiB), ("GiB", GiB),
        ("T", 1L << 40), ("TiB", 1L << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
    ];

    private enum Outcome
    {
        Parsed,
        NotASize,
        Negative,
        TooLarge,
    }

    /// <summary>Reads a size such as <c>20GiB</c>, <c>512M</c>, <c>1.5 GB</c> or <c>1048576</c> (see <see cref="ByteSize"/>).</summary>
    /// <param name="text">The size.</param>
    /// <returns>The number of bytes, 0 or more.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">
    /// <paramref name="text"/> is a negative size (<c>-5GiB</c>), or a size of more than <see cref="long.MaxValue"/> bytes
    /// (<see cref="ArgumentException.ParamName"/> is <c>text</c>).
    /// </exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="text"/> is not a size: empty, white space, an unknown unit, a number the format does not allow
    /// (<c>1e3</c>, <c>NaN</c>, <c>∞</c>, <c>1,5</c>) or anything else (<see cref="ArgumentException.ParamName"/> is
    /// <c>text</c>). Every exception this method throws derives from <see cref="ArgumentException"/>.
    /// </exception>
    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Read(text, out var bytes) switch
        {
            Outcome.Parsed => bytes,
            Outcome.Negative => throw new ArgumentOutOfRangeException(nameof(text), text, $"A byte size must not be negative; '{text}' is."),
            Outcome.TooLarge => throw new ArgumentOutOfRangeException(nameof(text), text, string.Create(CultureInfo.InvariantCulture, $"A byte size must be at most {long.MaxValue} bytes; '{text}' is more.")),
            _ => throw new ArgumentException($"'{text}' is not a byte size such as 20GiB, 512MiB, 1.5GB or 1048576.", nameof(text)),
        };
    }

    /// <summary>Reads a size as <see cref="Parse"/> does, without throwing.</summary>
    /// <param name="text">The size; <see langword="null"/> is not one.</param>
    /// <param name="bytes">The number of bytes when the text is a size, else 0.</param>
    /// <returns>Whether <paramref name="text"/> is a size of at most <see cref="long.MaxValue"/> bytes.</returns>
    public static bool TryParse(string? text, out long bytes)
    {
        if (text is not null && Read(text, out bytes) == Outcome.Parsed)
        {
            return true;
        }

        bytes = 0;
        return false;
    }

    /// <summary>
    /// Writes a byte count for people, in the largest binary unit it reaches (B, KiB, MiB, GiB) with at most two
    /// decimals: <c>20 GiB</c>, <c>12.5 GiB</c>, <c>512 MiB</c>, <c>100 B</c>. Negative counts keep their sign.
    /// </summary>
    /// <param name="bytes">The count.</param>
    /// <returns>The text, in the invariant culture; <see cref="Parse"/> reads it back (exactly when it needed no rounding).</returns>
    public static string Format(long bytes)
    {
        var abs = Math.Abs((double)bytes);
        return abs switch
        {
            >= GiB => Scaled(bytes, GiB, "GiB"),
            >= MiB => Scaled(bytes, MiB, "MiB"),
            >= KiB => Scaled(bytes, KiB, "KiB"),
            _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
        };
    }

    private static string Scaled(long bytes, long unit, string name) =>
        ((double)bytes / unit).ToString("0.##", CultureInfo.InvariantCulture) + " " + name;

    private static Outcome Read(string text, out long bytes)
    {
        bytes = 0;
        var span = text.AsSpan().Trim();
        var negative = span.Length > 0 && span[0] == '-';
        if (negative)
        {
            span = span[1..];
        }

        // The number: digits, optionally a point and digits.
        var end = 0;
        while (end < span.Length && char.IsAsciiDigit(span[end]))
        {
            end++;
        }

        if (end == 0)
        {
            return Outcome.NotASize;
        }

        if (end < span.Length && span[end] == '.')
        {
            var fraction = end + 1;
            end = fraction;
            while (end < span.Length && char.IsAsciiDigit(span[end]))
            {
                end++;
            }

            if (end == fraction)
            {
                return Outcome.NotASize;
            }
        }

        var number = span[..end];
        var unit = span[end..].TrimStart();
        long scale = 1;
        if (unit.Length > 0)
        {
            scale = 0;
            foreach (var (name, unitScale) in Units)
            {
                if (unit.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    scale = unitScale;
                    break;
                }
            }

            if (scale == 0)
            {
                return Outcome.NotASize;
            }
        }

        if (negative)
        {
            return Outcome.Negative;
        }

        // Only digits and one point are left, so the parse fails only when the number is beyond decimal's range.
        if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)
            || value > (decimal)long.MaxValue / scale + 1)
        {
            return Outcome.TooLarge;
        }

        var rounded = Math.Round(value * scale, MidpointRounding.ToEven);
        if (rounded > long.MaxValue)
        {
            return Outcome.TooLarge;
        }

        bytes = (long)rounded;
        return Outcome.Parsed;
    }
}
