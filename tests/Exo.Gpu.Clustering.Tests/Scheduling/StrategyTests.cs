using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class StrategyTests
{
    private static GpuRequest With(GpuSelectionStrategy strategy, long memory = 0, int count = 1) =>
        new() { Strategy = strategy, MemoryBytes = memory, DeviceCount = count };

    [Fact]
    public void MostFreeMemory_ComparesBytesNotFractions()
    {
        // 0: 80 GiB with 40 GiB free (50 %); 1: 24 GiB with 20 GiB free (83 %): GPUtil's order would pick 1.
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(usedBytes: 40 * GiB)));
        source.Add(Device(1, 24 * GiB), Healthy(Sample(24 * GiB, usedBytes: 4 * GiB)));
        Selectors.Create(source).Select(With(GpuSelectionStrategy.MostFreeMemory)).Index.Should().Be(0);
    }

    [Fact]
    public void LeastUtilized_PicksTheIdlestAndPutsUnreportedLast()
    {
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(util: 40)));
        source.Add(Device(1), Healthy(Sample(util: null)));
        source.Add(Device(2), Healthy(Sample(util: 15)));
        source.Add(Device(3), Healthy(Sample(util: 90)));
        var selector = Selectors.Create(source);
        selector.Select(With(GpuSelectionStrategy.LeastUtilized)).Index.Should().Be(2);
        selector.SelectDevices(With(GpuSelectionStrategy.LeastUtilized, count: 4)).Select(d => d.Index).Should().Equal(2, 0, 3, 1);
    }

    [Fact]
    public void BestFit_PicksTheSmallestDeviceThatFits()
    {
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(usedBytes: 30 * GiB)));   // 49.5 GiB free after headroom
        source.Add(Device(1), Healthy(Sample(usedBytes: 55 * GiB)));   // 24.5
        source.Add(Device(2), Healthy(Sample(usedBytes: 65 * GiB)));   // 14.5: too small
        source.Add(Device(3), Healthy(Sample(usedBytes: 10 * GiB)));   // 69.5
        var selector = Selectors.Create(source);
        selector.Select(With(GpuSelectionStrategy.BestFit, 20 * GiB)).Index.Should().Be(1);
        selector.Select(With(GpuSelectionStrategy.BestFit, 10 * GiB)).Index.Should().Be(2);
    }

    [Fact]
    public void BestFit_WithLeases_PacksOneDeviceBeforeTheNext()
    {
        var selector = Selectors.Create(Uniform(4));
        var request = With(GpuSelectionStrategy.BestFit, 10 * GiB);
        var leases = Enumerable.Range(0, 8).Select(_ => selector.TryAcquire(request, out var l) ? l : throw new InvalidOperationException()).ToList();
        leases.Select(l => l.Device.Index).Should().Equal(0, 0, 0, 0, 0, 0, 0, 1);
    }

    [Fact]
    public void RoundRobin_CyclesThroughEligibleDevicesInSlotOrder()
    {
        var source = Uniform(4);
        var selector = Selectors.Create(source);
        var request = With(GpuSelectionStrategy.RoundRobin);
        Enumerable.Range(0, 8).Select(_ => selector.Select(request).Index).Should().Equal(0, 1, 2, 3, 0, 1, 2, 3);
        source.ChangeHealth(2, GpuHealth.Unhealthy);
        Enumerable.Range(0, 4).Select(_ => selector.Select(request).Index).Should().Equal(0, 1, 3, 3);
    }

    [Fact]
    public void BestScore_WeighsFreeMemoryUtilizationTemperatureAndPower()
    {
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(usedBytes: 60 * GiB, util: 5, tempC: 30, powerW: 100)));
        source.Add(Device(1), Healthy(Sample(usedBytes: 0, util: 95, tempC: 80, powerW: 650)));
        var request = With(GpuSelectionStrategy.BestScore);
        Selectors.Create(source, new DeviceSelectorOptions { Weights = new GpuScoreWeights { FreeMemory = 1, Utilization = 0, Temperature = 0, PowerHeadroom = 0 } })
            .Select(request).Index.Should().Be(1);
        Selectors.Create(source, new DeviceSelectorOptions { Weights = new GpuScoreWeights { FreeMemory = 0, Utilization = 1, Temperature = 0, PowerHeadroom = 0 } })
            .Select(request).Index.Should().Be(0);
        Selectors.Create(source).Select(request).Index.Should().Be(0, "the default weights favour the idle, cool device");
    }

    [Fact]
    public void BestScore_ScoreComponentsAreReported()
    {
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(usedBytes: 40 * GiB, util: 25, tempC: 55, powerW: 350, powerLimitW: 700)));
        var score = Selectors.Create(source).Explain(new GpuRequest()).Devices[0].Score!.Value;
        score.FreeMemory.Should().BeApproximately(39.5 / 79.5, 1e-12);
        score.Utilization.Should().Be(0.75);
        score.Temperature.Should().BeApproximately((85.0 - 55) / 60, 1e-12);
        score.PowerHeadroom.Should().Be(0.5);
        score.Total.Should().BeApproximately((0.5 * (39.5 / 79.5)) + (0.3 * 0.75) + (0.1 * 0.5) + (0.1 * 0.5), 1e-12);
    }

    [Fact]
    public void BestScore_HotDeviceIsExcludedNotPenalized()
    {
        // The earlier design's penalty bottomed out at 0.1: a 116 °C idle device still scored. Here it is never chosen.
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(util: 0, tempC: 116, powerW: 10)));
        source.Add(Device(1), Healthy(Sample(usedBytes: 70 * GiB, util: 99, tempC: 84, powerW: 690)));
        var selector = Selectors.Create(source);
        foreach (var strategy in Enum.GetValues<GpuSelectionStrategy>())
        {
            Enumerable.Range(0, 20).Select(_ => selector.Select(With(strategy)).Index).Should().OnlyContain(i => i == 1, strategy.ToString());
        }

        source.SetSample(1, Sample(tempC: 85));
        selector.Invoking(s => s.Select(new GpuRequest())).Should().Throw<NoEligibleGpuException>();
    }

    [Fact]
    public void EveryStrategy_UnhealthyAndStaleDevicesAreNeverChosen()
    {
        var source = Uniform(4);
        source.ChangeHealth(0, GpuHealth.Unhealthy);
        source.ChangeHealth(1, GpuHealth.Lost);
        source.Set(2, new DeviceState(GpuHealth.Healthy, false, Sample(), TimeSpan.FromMinutes(1)));
        var selector = Selectors.Create(source);
        foreach (var strategy in Enum.GetValues<GpuSelectionStrategy>())
        {
            Enumerable.Range(0, 10).Select(_ => selector.Select(With(strategy)).Index).Should().OnlyContain(i => i == 3, strategy.ToString());
        }
    }

    [Fact]
    public void Gang_PicksTheBestDistinctDevices()
    {
        var source = new FakeDeviceStateSource();
        foreach (var (used, i) in new long[] { 50, 10, 70, 20, 30 }.Select((u, i) => (u, i)))
        {
            source.Add(Device(i), Healthy(Sample(usedBytes: used * GiB)));
        }

        Selectors.Create(source).SelectDevices(With(GpuSelectionStrategy.MostFreeMemory, count: 3)).Select(d => d.Index).Should().Equal(1, 3, 4);
    }

    [Fact]
    public void RandomTopK_ChoosesOnlyAmongTheTopKAndReachesEachOfThem()
    {
        var source = new FakeDeviceStateSource();
        for (var i = 0; i < 8; i++)
        {
            source.Add(Device(i), Healthy(Sample(util: i * 10)));
        }

        var selector = Selectors.Create(source, new DeviceSelectorOptions { RandomTopK = 3, Seed = 7 });
        var picks = Enumerable.Range(0, 600).Select(_ => selector.Select(With(GpuSelectionStrategy.RandomTopK)).Index).ToList();
        picks.Distinct().Order().Should().Equal(0, 1, 2);
        picks.GroupBy(i => i).Should().OnlyContain(g => g.Count() > 150, "each of the top 3 gets about a third");
    }

    [Fact]
    public void PowerOfTwoChoices_NeverPicksTheWorstAndSpreads()
    {
        var source = new FakeDeviceStateSource();
        for (var i = 0; i < 6; i++)
        {
            source.Add(Device(i), Healthy(Sample(util: i * 10)));
        }

        var selector = Selectors.Create(source, new DeviceSelectorOptions { Seed = 3 });
        var picks = Enumerable.Range(0, 600).Select(_ => selector.Select(With(GpuSelectionStrategy.PowerOfTwoChoices)).Index).ToList();
        picks.Should().NotContain(5);
        picks.Distinct().Should().HaveCount(5);
        picks.Count(i => i == 0).Should().BeGreaterThan(picks.Count(i => i == 4));
    }

    [Theory]
    [InlineData(GpuSelectionStrategy.RandomTopK)]
    [InlineData(GpuSelectionStrategy.PowerOfTwoChoices)]
    public void RandomStrategies_SameSeed_SameChoices(GpuSelectionStrategy strategy)
    {
        List<int> Run(int seed)
        {
            var selector = Selectors.Create(Uniform(16), new DeviceSelectorOptions { Seed = seed, RandomTopK = 8 });
            return [.. Enumerable.Range(0, 100).SelectMany(i => selector.SelectDevices(With(strategy, count: 1 + (i % 3))).Select(d => d.Index))];
        }

        Run(42).Should().Equal(Run(42));
        Run(42).Should().NotEqual(Run(43));
    }

    [Fact]
    public void RandomGang_DevicesAreDistinct()
    {
        var selector = Selectors.Create(Uniform(6), new DeviceSelectorOptions { Seed = 5, RandomTopK = 2 });
        for (var i = 0; i < 200; i++)
        {
            selector.SelectDevices(With(GpuSelectionStrategy.RandomTopK, count: 4)).Should().OnlyHaveUniqueItems();
            selector.SelectDevices(With(GpuSelectionStrategy.PowerOfTwoChoices, count: 5)).Should().OnlyHaveUniqueItems();
        }
    }

    [Theory]
    [InlineData(GpuSelectionStrategy.RoundRobin)]
    [InlineData(GpuSelectionStrategy.RandomTopK)]
    [InlineData(GpuSelectionStrategy.PowerOfTwoChoices)]
    [InlineData(GpuSelectionStrategy.BestScore)]
    public void Explain_ChosenIsWhatTheNextSelectionChooses(GpuSelectionStrategy strategy)
    {
        var selector = Selectors.Create(Uniform(8), new DeviceSelectorOptions { Seed = 11 });
        for (var i = 0; i < 20; i++)
        {
            var request = With(strategy, count: 1 + (i % 3));
            var predicted = selector.Explain(request).Chosen;
            selector.SelectDevices(request).Should().Equal(predicted);
        }
    }

    [Fact]
    public void DefaultStrategy_AppliesWhenTheRequestNamesNone()
    {
        var source = Uniform(3);
        var selector = Selectors.Create(source, new DeviceSelectorOptions { DefaultStrategy = GpuSelectionStrategy.RoundRobin });
        Enumerable.Range(0, 3).Select(_ => selector.Select(new GpuRequest()).Index).Should().Equal(0, 1, 2);
        selector.Explain(new GpuRequest()).Strategy.Should().Be(GpuSelectionStrategy.RoundRobin);
    }

    public static TheoryData<DeviceSelectorOptions, string> InvalidOptions => new()
    {
        { new DeviceSelectorOptions { MemoryHeadroomBytes = -1 }, "MemoryHeadroomBytes must be 0 or more; it is -1." },
        { new DeviceSelectorOptions { HotTemperatureC = double.NaN }, "HotTemperatureC must be a finite temperature above 25 °C; it is NaN." },
        { new DeviceSelectorOptions { MaxLeasesPerDevice = 0 }, "MaxLeasesPerDevice must be at least 1, or null for no limit; it is 0." },
        { new DeviceSelectorOptions { RandomTopK = 0 }, "RandomTopK must be at least 1; it is 0." },
        { new DeviceSelectorOptions { WaitRecheckInterval = TimeSpan.Zero }, "WaitRecheckInterval must be more than 0, or Timeout.InfiniteTimeSpan; it is 00:00:00." },
        { new DeviceSelectorOptions { DefaultStrategy = (GpuSelectionStrategy)42 }, "DefaultStrategy must be a defined GpuSelectionStrategy; it is 42." },
        { new DeviceSelectorOptions { Weights = null! }, "Weights must not be null." },
        { new DeviceSelectorOptions { Weights = new GpuScoreWeights { FreeMemory = 0, Utilization = 0, Temperature = 0, PowerHeadroom = 0 } }, "Weights must have at least one weight above 0; they are all 0." },
        { new DeviceSelectorOptions { Weights = new GpuScoreWeights { Temperature = -0.1 } }, "Weights.Temperature must be a finite number of 0 or more; it is -0.1." },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Options_InvalidValue_SelectorConstructorThrowsNamingTheProperty(DeviceSelectorOptions options, string error)
    {
        // Options are plain settable properties: an invalid value is accepted by the setter and rejected, with its
        // property path and value, when the selector is created.
        FluentActions.Invoking(() => Selectors.Create(Uniform(2), options))
            .Should().ThrowExactly<ArgumentException>()
            .Which.Should().Match<ArgumentException>(e => e.ParamName == "options" && e.Message == "Invalid selector options: " + error + " (Parameter 'options')");
    }
}
