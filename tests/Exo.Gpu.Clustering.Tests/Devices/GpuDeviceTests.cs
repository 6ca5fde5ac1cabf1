using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Tests.Devices;

public class GpuDeviceTests
{
    [Theory]
    [InlineData(null, "uuid")]
    [InlineData("", "uuid")]
    [InlineData("  ", "uuid")]
    public void Constructor_BadUuid_ThrowsNamingUuid(string? uuid, string param)
    {
        var act = () => new GpuDevice(uuid!, 0, "GPU", 1, GpuBackendKind.Simulated);
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(param);
    }

    [Fact]
    public void Constructor_NegativeIndex_ThrowsNamingIndex()
    {
        var act = () => new GpuDevice("GPU-1", -1, "GPU", 1, GpuBackendKind.Simulated);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("index");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Constructor_NonPositiveMemory_ThrowsNamingTotalMemoryBytes(long memory)
    {
        var act = () => new GpuDevice("GPU-1", 0, "GPU", memory, GpuBackendKind.Simulated);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("totalMemoryBytes");
    }

    [Fact]
    public void Constructor_UndefinedBackend_ThrowsNamingBackend()
    {
        var act = () => new GpuDevice("GPU-1", 0, "GPU", 1, (GpuBackendKind)42);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("backend");
    }

    [Fact]
    public void Init_ZeroMultiprocessors_ThrowsNamingProperty()
    {
        var act = () => new GpuDevice("GPU-1", 0, "GPU", 1, GpuBackendKind.Nvml) { MultiprocessorCount = 0 };
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("MultiprocessorCount");
    }

    [Fact]
    public void Init_NegativeCudaOrdinal_ThrowsNamingProperty()
    {
        var act = () => new GpuDevice("GPU-1", 0, "GPU", 1, GpuBackendKind.Nvml) { CudaOrdinal = -1 };
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("CudaOrdinal");
    }

    [Fact]
    public void TheoreticalBandwidth_V100Figures_MatchesPublishedValue()
    {
        // V100: 877 MHz HBM2, 4096-bit bus => about 898 GB/s.
        var device = new GpuDevice("GPU-1", 0, "V100", 1, GpuBackendKind.Nvml) { MaxMemoryClockMHz = 877, MemoryBusWidthBits = 4096 };
        device.TheoreticalMemoryBandwidthBytesPerSecond.Should().BeApproximately(898.0e9, 0.1e9);
    }

    [Fact]
    public void TheoreticalBandwidth_UnknownBusWidth_IsNull()
    {
        var device = new GpuDevice("GPU-1", 0, "GPU", 1, GpuBackendKind.Nvml) { MaxMemoryClockMHz = 877 };
        device.TheoreticalMemoryBandwidthBytesPerSecond.Should().BeNull();
    }

    [Fact]
    public void Equals_SameUuid_EqualRegardlessOfOtherFacts()
    {
        var a = new GpuDevice("GPU-1", 0, "A", 1, GpuBackendKind.Nvml);
        var b = new GpuDevice("GPU-1", 3, "B", 2, GpuBackendKind.Nvml);
        a.Should().Be(b);
        a.GetHashCode().Should().Be(b.GetHashCode());
        a.Should().NotBe(new GpuDevice("GPU-2", 0, "A", 1, GpuBackendKind.Nvml));
    }

    [Fact]
    public void ComputeCapability_Ordering_ComparesMajorThenMinor()
    {
        (new ComputeCapability(8, 9) < new ComputeCapability(9, 0)).Should().BeTrue();
        (new ComputeCapability(8, 6) > new ComputeCapability(8, 0)).Should().BeTrue();
        new ComputeCapability(9, 0).ToString().Should().Be("9.0");
        var act = () => new ComputeCapability(0, 1);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("major");
    }
}
