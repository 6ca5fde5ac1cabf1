using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Tests.Devices;

public class GpuSampleTests
{
    [Fact]
    public void Default_EveryReading_IsNotAvailable()
    {
        var sample = new GpuSample { Timestamp = DateTimeOffset.UnixEpoch };
        sample.MemoryUsedBytes.Should().BeNull();
        sample.MemoryTotalBytes.Should().BeNull();
        sample.MemoryFreeBytes.Should().BeNull();
        sample.UtilizationPercent.Should().BeNull();
        sample.MemoryUtilizationPercent.Should().BeNull();
        sample.TemperatureC.Should().BeNull();
        sample.PowerW.Should().BeNull();
        sample.PowerLimitW.Should().BeNull();
        sample.SmClockMHz.Should().BeNull();
        sample.ClockEventReasons.Should().BeNull();
        sample.EccCorrectedErrors.Should().BeNull();
        sample.EccUncorrectedErrors.Should().BeNull();
    }

    [Fact]
    public void Init_ZeroValues_AreAvailableZeros()
    {
        var sample = new GpuSample { UtilizationPercent = 0, PowerW = 0, ClockEventReasons = GpuClockEventReasons.None, EccUncorrectedErrors = 0 };
        sample.UtilizationPercent.Should().Be(0);
        sample.PowerW.Should().Be(0);
        sample.ClockEventReasons.Should().Be(GpuClockEventReasons.None);
        sample.EccUncorrectedErrors.Should().Be(0);
        sample.TemperatureC.Should().BeNull();
    }

    [Fact]
    public void MemoryFree_BothKnown_IsTotalMinusUsed()
    {
        var sample = new GpuSample { MemoryUsedBytes = 3, MemoryTotalBytes = 10 };
        sample.MemoryFreeBytes.Should().Be(7);
        new GpuSample { MemoryTotalBytes = 10 }.MemoryFreeBytes.Should().BeNull();
    }

    [Fact]
    public void Timestamp_NonUtcOffset_StoredAsSameInstantInUtc()
    {
        var local = new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.FromHours(2));
        var sample = new GpuSample { Timestamp = local };
        sample.Timestamp.Should().Be(local);
        sample.Timestamp.Offset.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void Equals_DiffersInPresenceOnly_NotEqual()
    {
        var a = new GpuSample { PowerW = 0 };
        var b = new GpuSample();
        (a == b).Should().BeFalse();
        (a == new GpuSample { PowerW = 0 }).Should().BeTrue();
    }
}
