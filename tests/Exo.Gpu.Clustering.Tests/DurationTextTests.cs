namespace Exo.Gpu.Clustering.Tests;

public class DurationTextTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("1s", 1000)]
    [InlineData("1.5s", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("0s", 0)]
    public void Parse_Units_Scaled(string text, double milliseconds) =>
        DurationText.Parse(text).Should().Be(TimeSpan.FromMilliseconds(milliseconds));

    [Theory]
    [InlineData("")]
    [InlineData("1")]
    [InlineData("-1s")]
    [InlineData("NaNs")]
    [InlineData("1e300h")]
    [InlineData("soon")]
    [InlineData("1 d")]
    public void TryParse_Invalid_False(string text)
    {
        DurationText.TryParse(text, out var value).Should().BeFalse();
        value.Should().Be(TimeSpan.Zero);
        FluentActions.Invoking(() => DurationText.Parse(text)).Should().Throw<FormatException>().WithMessage($"*'{text}'*");
    }

    [Fact]
    public void Parse_Null_ArgumentNullExceptionNamingText()
    {
        DurationText.TryParse(null, out _).Should().BeFalse();
        FluentActions.Invoking(() => DurationText.Parse(null!)).Should().Throw<ArgumentNullException>().WithParameterName("text");
    }

    [Fact]
    public void Parse_RandomMilliseconds_RoundTrips()
    {
        var random = new Random(11);
        for (var i = 0; i < 1000; i++)
        {
            var ms = random.Next(0, int.MaxValue);
            DurationText.Parse($"{ms}ms").Should().Be(TimeSpan.FromMilliseconds(ms));
        }
    }
}
