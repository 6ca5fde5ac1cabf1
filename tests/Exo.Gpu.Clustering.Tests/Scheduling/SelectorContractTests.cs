using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

/// <summary>Documented selector behaviour that testing the contract found broken (issue 12, item 5).</summary>
public class SelectorContractTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task TryAcquire_DeviceCountIntMaxValue_ThrowsArgumentOutOfRangeNamingDeviceCount()
    {
        await using var selector = new DeviceSelector(Uniform(2));

        var act = () => selector.TryAcquire(new GpuRequest { DeviceCount = int.MaxValue }, out _);

        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(nameof(GpuRequest.DeviceCount));
        selector.GetSnapshot().Granted.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_DeviceCountIntMaxValue_ThrowsArgumentOutOfRangeNamingDeviceCount()
    {
        await using var selector = new DeviceSelector(Uniform(2));

        var act = async () => await selector.AcquireAsync(new GpuRequest { DeviceCount = int.MaxValue });

        (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be(nameof(GpuRequest.DeviceCount));
        selector.GetSnapshot().Waiters.Should().Be(0);
    }

    [Fact]
    public async Task TryAcquire_ReadingWithoutTotalOnFullDevice_FallsBackToStaticTotalAndRefuses()
    {
        // The device is 80 GiB and 79 GiB are in use; the reading lacks the total (as a MIG parent's may).
        var time = new FakeTimeProvider(Start);
        var device = Device(0);
        await using var collector = new TelemetryCollector([device], timeProvider: time);
        collector.Record(device.Uuid, new GpuSample { Timestamp = Start, MemoryUsedBytes = 79 * GiB, UtilizationPercent = 10, TemperatureC = 40 });
        await using var selector = new DeviceSelector(collector, new DeviceSelectorOptions { MemoryHeadroomBytes = 0 });

        selector.TryAcquire(new GpuRequest { MemoryBytes = 20 * GiB }, out _).Should().BeFalse("only 1 GiB is free");
        selector.TryAcquire(new GpuRequest { MemoryBytes = GiB / 2 }, out var fits).Should().BeTrue();
        await fits.DisposeAsync();
        selector.Explain(new GpuRequest()).Devices[0].ObservedFreeBytes.Should().Be(GiB);
    }

    [Theory]
    [InlineData(1e308, 1e308, 1e308, 1e308)]
    [InlineData(1e301, 0, 0, 0)]
    [InlineData(0.5, 0.3, 1e-320, 0.1)]
    public void Constructor_WeightsOutsideTheSupportedRange_ThrowsNamingTheWeight(double free, double utilization, double temperature, double power)
    {
        var options = new DeviceSelectorOptions
        {
            Weights = new GpuScoreWeights { FreeMemory = free, Utilization = utilization, Temperature = temperature, PowerHeadroom = power },
        };

        var act = () => new DeviceSelector(Uniform(2), options);

        act.Should().Throw<ArgumentException>().WithMessage("*Weights.*must be 0, or from 1E-300 to 1E+300*");
    }
}
