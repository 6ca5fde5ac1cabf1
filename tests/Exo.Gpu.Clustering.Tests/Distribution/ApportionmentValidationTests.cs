using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Tests.Distribution;

/// <summary>Bad input: a specific exception naming the argument, and the caller's output untouched.</summary>
public class ApportionmentValidationTests
{
    public static TheoryData<string, double[], long, long[]?, long[]?, string, Type> BadInputs => new()
    {
        { "negative items", [1, 1], -1, null, null, "items", typeof(ArgumentOutOfRangeException) },
        { "too many items", [1, 1], WorkloadDistributor.MaxItems + 1, null, null, "items", typeof(ArgumentOutOfRangeException) },
        { "empty device set", [], 3, null, null, "weights", typeof(ArgumentException) },
        { "negative weight", [1, -1], 3, null, null, "weights", typeof(ArgumentOutOfRangeException) },
        { "NaN weight", [1, double.NaN], 3, null, null, "weights", typeof(ArgumentOutOfRangeException) },
        { "infinite weight", [double.PositiveInfinity, 1], 3, null, null, "weights", typeof(ArgumentOutOfRangeException) },
        { "all-zero weights", [0, 0, 0], 3, null, null, "weights", typeof(ArgumentException) },
        { "all-zero weights, no items", [0, 0], 0, null, null, "weights", typeof(ArgumentException) },
        { "weights overflow", [1e300, 1e300], 3, null, null, "weights", typeof(ArgumentOutOfRangeException) },
        { "minimums length", [1, 1], 3, [1], null, "minimums", typeof(ArgumentException) },
        { "negative minimum", [1, 1], 3, [1, -1], null, "minimums", typeof(ArgumentOutOfRangeException) },
        { "minimums above items", [1, 1], 3, [2, 2], null, "minimums", typeof(ArgumentException) },
        { "minimum above cap", [1, 1], 3, [3, 0], [2, 5], "minimums", typeof(ArgumentException) },
        { "caps length", [1, 1], 3, null, [1, 1, 1], "caps", typeof(ArgumentException) },
        { "negative cap", [1, 1], 3, null, [-1, 5], "caps", typeof(ArgumentOutOfRangeException) },
        { "caps too small", [1, 1], 3, null, [1, 1], "caps", typeof(InsufficientCapacityException) },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Apportion_BadInput_ThrowsNamingArgumentAndLeavesCountsUntouched(string scenario, double[] weights, long items, long[]? minimums, long[]? caps, string param, Type type)
    {
        var counts = Enumerable.Repeat(-7L, weights.Length).ToArray();
        var act = () => WorkloadDistributor.Apportion(items, weights, counts, ApportionmentMethod.Webster, minimums, caps);
        var thrown = act.Should().Throw<ArgumentException>(scenario).Which;
        thrown.Should().BeOfType(type, scenario);
        thrown.ParamName.Should().Be(param, scenario);
        counts.All(c => c == -7).Should().BeTrue("bad input never writes the output");
    }

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void Plan_BadInput_ThrowsNamingArgument(string scenario, double[] weights, long items, long[]? minimums, long[]? caps, string param, Type type)
    {
        var act = () => WorkloadDistributor.Plan(items, weights, ApportionmentMethod.DHondt, minimums, caps);
        act.Should().Throw<ArgumentException>(scenario).Which.ParamName.Should().Be(param, scenario);
        act.Should().Throw<ArgumentException>().Which.Should().BeOfType(type);
    }

    [Fact]
    public void Apportion_CountsOfWrongLength_ThrowsNamingCounts()
    {
        var act = () => WorkloadDistributor.Apportion(3L, [1, 1], new long[3]);
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("counts");
        var actInt = () => WorkloadDistributor.Apportion(3, [1, 1], new int[1]);
        actInt.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("counts");
    }

    [Fact]
    public void Apportion_NegativeIntItems_ThrowsNamingItems()
    {
        var act = () => WorkloadDistributor.Apportion(-1, [1, 1], new int[2]);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("items");
    }

    [Fact]
    public void Apportion_UndefinedMethod_ThrowsNamingMethod()
    {
        var act = () => WorkloadDistributor.Apportion(3L, [1, 1], new long[2], (ApportionmentMethod)9);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("method");
    }

    [Fact]
    public void Apportion_NegativeWeight_MessageNamesTheIndex()
    {
        var act = () => WorkloadDistributor.Apportion(3L, [1, 2, -0.5], new long[3]);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("weights[2] must be a finite number of 0 or more, got -0.5.*");
    }

    [Fact]
    public void Apportion_CapsTooSmall_MessageSaysHowManyFit()
    {
        var act = () => WorkloadDistributor.Apportion(10L, [1, 1, 0], new long[3], minimums: [0L, 0, 1], caps: [2L, 2, 9]);
        act.Should().Throw<InsufficientCapacityException>()
            .WithMessage("The caps hold 5 of the 10 items*")
            .Which.Capacity.Should().Be(5);
    }

    [Fact]
    public void Split_SlicesOfWrongLength_ThrowsNamingSlices()
    {
        var items = new int[10];
        var act = () => WorkloadDistributor.Split<int>(items, [1, 1], new ReadOnlyMemory<int>[3]);
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("slices");
    }

    [Fact]
    public void SplitRanges_RangesOfWrongLength_ThrowsNamingRanges()
    {
        var act = () => WorkloadDistributor.SplitRanges(10, [1, 1], new ItemRange[1]);
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("ranges");
    }

    [Fact]
    public void Split_BadInput_LeavesSlicesUntouched()
    {
        var items = Enumerable.Range(0, 10).ToArray();
        var sentinel = new ReadOnlyMemory<int>(items, 3, 1);
        var slices = new[] { sentinel, sentinel, sentinel };
        var act = () => WorkloadDistributor.Split<int>(items, [1, 1, 1], slices, caps: [2, 2, 2]);
        act.Should().Throw<InsufficientCapacityException>();
        slices.Should().OnlyContain(s => s.Equals(sentinel));
    }
}
