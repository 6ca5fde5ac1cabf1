using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class GpuRequestTests
{
    public static TheoryData<string, Func<GpuRequest>> BadFields => new()
    {
        { "MemoryBytes", () => new GpuRequest { MemoryBytes = -1 } },
        { "DeviceCount", () => new GpuRequest { DeviceCount = 0 } },
        { "DeviceCount", () => new GpuRequest { DeviceCount = -3 } },
        { "MaxUtilizationPercent", () => new GpuRequest { MaxUtilizationPercent = 100.5 } },
        { "MaxUtilizationPercent", () => new GpuRequest { MaxUtilizationPercent = -1 } },
        { "MaxUtilizationPercent", () => new GpuRequest { MaxUtilizationPercent = double.NaN } },
        { "MaxTemperatureC", () => new GpuRequest { MaxTemperatureC = double.NaN } },
        { "MaxTemperatureC", () => new GpuRequest { MaxTemperatureC = double.PositiveInfinity } },
        { "MaxTelemetryAge", () => new GpuRequest { MaxTelemetryAge = TimeSpan.Zero } },
        { "MaxTelemetryAge", () => new GpuRequest { MaxTelemetryAge = TimeSpan.FromSeconds(-1) } },
        { "Strategy", () => new GpuRequest { Strategy = (GpuSelectionStrategy)99 } },
        { "NamePattern", () => new GpuRequest { NamePattern = " " } },
        { "IncludeIndexes", () => new GpuRequest { IncludeIndexes = [0, -1] } },
        { "ExcludeIndexes", () => new GpuRequest { ExcludeIndexes = [-2] } },
        { "IncludeUuids", () => new GpuRequest { IncludeUuids = ["GPU-1", ""] } },
        { "ExcludeUuids", () => new GpuRequest { ExcludeUuids = [null!] } },
        { "ExcludeIndexes", () => new GpuRequest { IncludeIndexes = [1, 2], ExcludeIndexes = [2, 1, 5] } },
        { "IncludeIndexes", () => new GpuRequest { ExcludeIndexes = [2, 1, 5], IncludeIndexes = [1, 2] } },
        { "ExcludeUuids", () => new GpuRequest { IncludeUuids = ["GPU-a"], ExcludeUuids = ["gpu-A"] } },
        { "DeviceCount", () => new GpuRequest { IncludeIndexes = [1, 2], DeviceCount = 3 } },
        { "IncludeIndexes", () => new GpuRequest { DeviceCount = 3, IncludeIndexes = [1, 2] } },
        { "ExcludeIndexes", () => new GpuRequest { DeviceCount = 2, IncludeIndexes = [1, 2], ExcludeIndexes = [2] } },
        { "MaxComputeCapability", () => new GpuRequest { MinComputeCapability = new(9, 0), MaxComputeCapability = new(8, 9) } },
        { "MinComputeCapability", () => new GpuRequest { MaxComputeCapability = new(8, 9), MinComputeCapability = new(9, 0) } },
    };

    [Theory]
    [MemberData(nameof(BadFields))]
    public void Init_BadOrContradictoryValue_ThrowsNamingTheField(string field, Func<GpuRequest> build)
    {
        var thrown = build.Should().Throw<ArgumentException>().Which;
        thrown.ParamName.Should().Be(field);
    }

    [Fact]
    public void Init_IncludeAndExcludeInDifferentKeys_IsAcceptedUntilACluster()
    {
        // Index 1 and a UUID may or may not be the same device: only the selector can tell.
        var request = new GpuRequest { IncludeIndexes = [1], ExcludeUuids = [FakeDeviceStateSource.Uuid(1)] };
        request.IncludeIndexes.Should().Equal(1);
    }

    [Fact]
    public void Init_Lists_AreCopiedSortedAndDistinct()
    {
        var indexes = new List<int> { 3, 1, 3 };
        var uuids = new List<string> { "GPU-b", "GPU-B", "GPU-a" };
        var request = new GpuRequest { IncludeIndexes = indexes, ExcludeUuids = uuids };
        indexes.Add(7);
        uuids.Clear();
        request.IncludeIndexes.Should().Equal(1, 3);
        request.ExcludeUuids.Should().Equal("GPU-b", "GPU-a");
    }

    [Fact]
    public void Defaults_OneDeviceNoMemoryHealthyOnly()
    {
        var request = new GpuRequest();
        request.DeviceCount.Should().Be(1);
        request.MemoryBytes.Should().Be(0);
        request.AllowDegraded.Should().BeFalse();
        request.Strategy.Should().BeNull();
    }

    [Theory]
    [InlineData("H100", "NVIDIA H100 80GB HBM3", true)]
    [InlineData("h100", "NVIDIA H100 80GB HBM3", true)]
    [InlineData("A100", "NVIDIA H100 80GB HBM3", false)]
    [InlineData("*H100*", "NVIDIA H100 80GB HBM3", true)]
    [InlineData("H100*", "NVIDIA H100 80GB HBM3", false)]
    [InlineData("NVIDIA*", "NVIDIA H100 80GB HBM3", true)]
    [InlineData("NVIDIA A100-SXM4-??GB", "NVIDIA A100-SXM4-80GB", true)]
    [InlineData("NVIDIA A100-SXM4-??GB", "NVIDIA A100-SXM4-8GB", false)]
    [InlineData("*", "anything", true)]
    [InlineData("*a*b*c", "xaxbxbc", true)]
    [InlineData("*a*b*c", "xaxbxbcd", false)]
    [InlineData("?", "", false)]
    public void NamePattern_GlobWithWildcardsSubstringOtherwise(string pattern, string name, bool expected) =>
        new NamePattern(pattern).IsMatch(name).Should().Be(expected);

    [Fact]
    public void ToString_DescribesTheRequest() =>
        new GpuRequest { MemoryBytes = 20L << 30, DeviceCount = 2, MaxUtilizationPercent = 50, MinComputeCapability = new ComputeCapability(8, 0) }
            .ToString().Should().Be("2 devices × 20 GiB, max util 50 %, compute >= 8.0");
}
