using System.Globalization;

namespace Exo.Gpu.Clustering.Tests;

public class ByteSizeTests
{
    private static readonly (string Unit, long Scale)[] Units =
    [
        ("", 1), ("B", 1),
        ("K", 1L << 10), ("KiB", 1L << 10), ("M", 1L << 20), ("MiB", 1L << 20),
        ("G", 1L << 30), ("GiB", 1L << 30), ("T", 1L << 40), ("TiB", 1L << 40),
        ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
    ];

    [Theory]
    [InlineData("20GiB", 20L << 30)]
    [InlineData("20g", 20L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("512M", 512L << 20)]
    [InlineData("1.5GB", 1_500_000_000L)]
    [InlineData("1.5 GB", 1_500_000_000L)]
    [InlineData("1 TiB", 1L << 40)]
    [InlineData("100", 100L)]
    [InlineData("1048576", 1_048_576L)]
    [InlineData("4KB", 4000L)]
    [InlineData("4kb", 4000L)]
    [InlineData("4 kib", 4096L)]
    [InlineData("  7 b  ", 7L)]
    [InlineData("\t2\tM\n", 2L << 20)]
    [InlineData("0", 0L)]
    [InlineData("0.0GiB", 0L)]
    [InlineData("007MiB", 7L << 20)]
    [InlineData("12.5 GiB", 12L * (1L << 30) + (1L << 29))]
    [InlineData("0.5KiB", 512L)]
    [InlineData("0.1KiB", 102L)]
    [InlineData("2.5B", 2L)]
    [InlineData("3.5B", 4L)]
    [InlineData("9007199254740993", 9_007_199_254_740_993L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("9223372TB", 9_223_372_000_000_000_000L)]
    [InlineData("9223372036854775807.4", long.MaxValue)]
    [InlineData("8388607.999999999999TiB", long.MaxValue)]
    public void Parse_ReadsWhatTheCliReads(string text, long bytes)
    {
        ByteSize.Parse(text).Should().Be(bytes);
        ByteSize.TryParse(text, out var parsed).Should().BeTrue();
        parsed.Should().Be(bytes);
    }

    [Fact]
    public void Parse_IgnoresTheCurrentCulture()
    {
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
            ByteSize.Parse("1.5GiB").Should().Be(3L << 29);
            ByteSize.TryParse("1,5GiB", out _).Should().BeFalse();
            ByteSize.Format(3L << 29).Should().Be("1.5 GiB");
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void Parse_EveryUnitAndCase_IsTheNumberTimesTheScale()
    {
        var random = new Random(20260127);
        foreach (var (unit, scale) in Units)
        {
            var max = long.MaxValue / scale;
            foreach (var spelling in new[] { unit, unit.ToLowerInvariant(), unit.ToUpperInvariant() })
            {
                for (var i = 0; i < 200; i++)
                {
                    var n = i switch { 0 => 0, 1 => max, _ => random.NextInt64(0, max) };
                    var space = i % 3 == 0 ? " " : string.Empty;
                    var text = string.Create(CultureInfo.InvariantCulture, $"{n}{space}{spelling}");
                    ByteSize.Parse(text).Should().Be(n * scale, text);
                }
            }
        }
    }

    [Fact]
    public void Parse_BinaryHalves_AreExact()
    {
        var random = new Random(7);
        foreach (var (unit, scale) in Units.Where(u => u.Scale >= 1024 && (u.Scale & (u.Scale - 1)) == 0))
        {
            for (var i = 0; i < 200; i++)
            {
                var n = random.NextInt64(0, (long.MaxValue / scale) - 1);
                ByteSize.Parse(string.Create(CultureInfo.InvariantCulture, $"{n}.5{unit}")).Should().Be((n * scale) + (scale / 2));
                ByteSize.Parse(string.Create(CultureInfo.InvariantCulture, $"{n}.25 {unit}")).Should().Be((n * scale) + (scale / 4));
            }
        }
    }

    [Theory]
    [InlineData(100L, "100 B")]
    [InlineData(1023L, "1023 B")]
    [InlineData(1024L, "1 KiB")]
    [InlineData(512L << 20, "512 MiB")]
    [InlineData(20L << 30, "20 GiB")]
    [InlineData((25L << 30) / 2, "12.5 GiB")]
    [InlineData(1L << 40, "1024 GiB")]
    [InlineData(0L, "0 B")]
    [InlineData(-1536L, "-1.5 KiB")]
    [InlineData(1_500_000_000L, "1.4 GiB")]
    public void Format_IsUnchanged(long bytes, string text) => ByteSize.Format(bytes).Should().Be(text);

    [Fact]
    public void Format_ThenParse_RoundTripsExactMultiples()
    {
        var random = new Random(42);
        (long Scale, long Below)[] units = [(1, 1024), (1L << 10, 1024), (1L << 20, 1024), (1L << 30, long.MaxValue >> 30)];
        foreach (var (scale, below) in units)
        {
            for (var i = 0; i < 500; i++)
            {
                var bytes = random.NextInt64(scale == 1 ? 0 : 1, below) * scale;
                ByteSize.Parse(ByteSize.Format(bytes)).Should().Be(bytes, ByteSize.Format(bytes));
            }
        }

        // Quarters need no rounding at two decimals either.
        for (var n = 4L; n < 4096; n++)
        {
            var bytes = n * (1L << 28);
            ByteSize.Parse(ByteSize.Format(bytes)).Should().Be(bytes);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("GiB")]
    [InlineData("20parsecs")]
    [InlineData("20 G i B")]
    [InlineData("20GiBs")]
    [InlineData("20PB")]
    [InlineData("20PiB")]
    [InlineData("1e3")]
    [InlineData("1E3MB")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("∞")]
    [InlineData("1,5GB")]
    [InlineData("1,000")]
    [InlineData(".5G")]
    [InlineData("5.G")]
    [InlineData("5..1G")]
    [InlineData("+5G")]
    [InlineData("0x10")]
    [InlineData("١٢")]
    [InlineData("- 5G")]
    [InlineData("-")]
    [InlineData("5 - G")]
    public void Parse_NotASize_ThrowsArgumentExceptionNamingText(string text)
    {
        var act = () => ByteSize.Parse(text);
        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "text" && e.Message.StartsWith($"'{text}' is not a byte size such as 20GiB, 512MiB, 1.5GB or 1048576.", StringComparison.Ordinal));
        ByteSize.TryParse(text, out var bytes).Should().BeFalse();
        bytes.Should().Be(0);
    }

    [Theory]
    [InlineData("-5GiB")]
    [InlineData("-1")]
    [InlineData("-0")]
    [InlineData(" -0.5 KB")]
    public void Parse_Negative_ThrowsOutOfRangeNamingText(string text)
    {
        var act = () => ByteSize.Parse(text);
        var e = act.Should().ThrowExactly<ArgumentOutOfRangeException>().Which;
        e.ParamName.Should().Be("text");
        e.ActualValue.Should().Be(text);
        e.Message.Should().StartWith($"A byte size must not be negative; '{text}' is.");
        ByteSize.TryParse(text, out _).Should().BeFalse();
    }

    [Theory]
    [InlineData("9223372036854775808")]
    [InlineData("9223372036854775807.5")]
    [InlineData("8388608TiB")]
    [InlineData("9223373TB")]
    [InlineData("8589934592GiB")]
    [InlineData("99999999999999999999999999999999999999999999999999")]
    [InlineData("99999999999999999999999999999999999999999999999999TB")]
    public void Parse_TooLarge_ThrowsOutOfRangeNamingText(string text)
    {
        var act = () => ByteSize.Parse(text);
        var e = act.Should().ThrowExactly<ArgumentOutOfRangeException>().Which;
        e.ParamName.Should().Be("text");
        e.Message.Should().StartWith($"A byte size must be at most 9223372036854775807 bytes; '{text}' is more.");
        ByteSize.TryParse(text, out var bytes).Should().BeFalse();
        bytes.Should().Be(0);
    }

    [Fact]
    public void Parse_Null_ThrowsArgumentNull_TryParseReturnsFalse()
    {
        var act = () => ByteSize.Parse(null!);
        act.Should().ThrowExactly<ArgumentNullException>().Which.ParamName.Should().Be("text");
        ByteSize.TryParse(null, out var bytes).Should().BeFalse();
        bytes.Should().Be(0);
    }

    [Fact]
    public void Parse_ManyFractionDigits_RoundsToTheNearestByte()
    {
        ByteSize.Parse("1." + new string('9', 60) + "KiB").Should().Be(2048);
        ByteSize.Parse("0." + new string('0', 40) + "1TiB").Should().Be(0);
        ByteSize.Parse(new string('0', 200) + "1").Should().Be(1);
    }
}
