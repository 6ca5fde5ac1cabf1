using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

[Collection(FakeGpuTests.Name)]
public class NvmlDiscoveryTests
{
    private static readonly FakeGpuLibrary Fake = FakeGpuLibrary.Main;

    [Fact]
    public async Task DiscoverAsync_ScriptedDevices_ReadsEveryFact()
    {
        Fake.Reset(2);
        Fake.Set(-1, "driver.version", "560.35.03");
        Fake.Set(-1, "cuda.version", 12060);
        Fake.Set(1, "uuid", "GPU-8f6c0b8e-1d2a-4b5c-9e7f-0123456789ab");
        Fake.Set(1, "name", "NVIDIA A100-SXM4-40GB");
        Fake.Set(1, "memory.total", 42949672960);
        Fake.Set(1, "pci.domain", 1);
        Fake.Set(1, "pci.bus", 0xB3);
        Fake.Set(1, "cc.major", 8);
        Fake.Set(1, "cc.minor", 0);
        Fake.Set(1, "sm.count", 108);
        Fake.Set(1, "clock.sm.max", 1410);
        Fake.Set(1, "clock.mem.max", 1215);
        Fake.Set(1, "bus.width", 5120);
        Fake.Set(1, "mig.pending", 1); // MIG mode changes the facts CUDA gives (NvmlRealityTests); here it is only pending
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        backend.Kind.Should().Be(GpuBackendKind.Nvml);
        backend.DriverVersion.Should().Be("560.35.03");
        backend.CudaDriverVersion.Should().Be("12.6");
        devices.Select(d => d.Index).Should().Equal(0, 1);
        var a100 = devices[1];
        a100.Uuid.Should().Be("GPU-8f6c0b8e-1d2a-4b5c-9e7f-0123456789ab");
        a100.Name.Should().Be("NVIDIA A100-SXM4-40GB");
        a100.TotalMemoryBytes.Should().Be(42949672960);
        a100.Backend.Should().Be(GpuBackendKind.Nvml);
        a100.PciBusId.Should().Be("00000001:B3:00.0");
        a100.ComputeCapability.Should().Be(new ComputeCapability(8, 0));
        a100.MultiprocessorCount.Should().Be(108);
        a100.MaxSmClockMHz.Should().Be(1410);
        a100.MaxMemoryClockMHz.Should().Be(1215);
        a100.MemoryBusWidthBits.Should().Be(5120);
        a100.TheoreticalMemoryBandwidthBytesPerSecond.Should().BeApproximately(1555.2e9, 1e6, "2 x 1215 MHz x 5120 bit / 8");
        a100.DriverVersion.Should().Be("560.35.03");
        a100.CudaOrdinal.Should().Be(1);
        a100.MigEnabled.Should().BeFalse("MIG mode is pending, not current");
        devices[0].Uuid.Should().Be(FakeGpuLibrary.DefaultUuid(0));
        devices[0].MigEnabled.Should().BeFalse();
    }

    [Fact]
    public async Task DiscoverAsync_CudaNumbersDevicesDifferently_JoinsOrdinalsByUuid()
    {
        Fake.Reset(4);
        Fake.SetCudaOrder(2, 0, 3, 1);
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => d.Index).Should().Equal(0, 1, 2, 3);
        devices.Select(d => d.CudaOrdinal).Should().Equal(1, 3, 0, 2);
    }

    [Fact]
    public async Task DiscoverAsync_CudaReportsOtherUuids_JoinsByPciBusId()
    {
        Fake.Reset(3);
        for (var i = 0; i < 3; i++)
        {
            Fake.Set(i, "cuda.uuid", $"MIG-{i:x8}-9999-9999-9999-999999999999");
            Fake.Set(i, "sm.count", 100 + i);
        }

        Fake.SetCudaOrder(2, 1, 0);
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => d.CudaOrdinal).Should().Equal(2, 1, 0);
        devices.Select(d => d.MultiprocessorCount).Should().Equal(100, 101, 102);
    }

    [Fact]
    public async Task DiscoverAsync_DriverAppliedProcessSettings_ListsWhatCudaSeesWithItsOrdinals()
    {
        Fake.Reset(3);
        Fake.SetCudaOrder(2, 1); // as a driver started with CUDA_VISIBLE_DEVICES hiding device 0 would enumerate
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => (d.Index, d.CudaOrdinal)).Should().Equal((1, 1), (2, 0));
    }

    [Fact]
    public async Task DiscoverAsync_WithoutCudaDriver_DevicesHaveNoOrdinalOrSmCount()
    {
        Fake.Reset(2);
        var options = NvmlTestContext.Options();
        options.CudaLibraryPath = null;
        options.CudaSearchPaths = ["/nonexistent/exo-gpu-test/libcuda.so.1"];
        await using var backend = NvmlTestContext.Create(options);

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Should().HaveCount(2).And.OnlyContain(d => d.CudaOrdinal == null && d.MultiprocessorCount == null);
        devices.Should().OnlyContain(d => d.ComputeCapability == new ComputeCapability(9, 0), "NVML reports the compute capability too");
        backend.CudaDriverVersion.Should().Be("12.4", "NVML reports the CUDA version too");
    }

    [Fact]
    public void Constructor_ConfiguredCudaPathMissing_ThrowsNamingIt()
    {
        Fake.Reset(1);
        var before = Fake.InitCount;
        var options = NvmlTestContext.Options();
        options.CudaLibraryPath = "/nonexistent/exo-gpu-test/libcuda.so.1";

        var act = () => NvmlTestContext.Create(options);

        act.Should().Throw<GpuBackendUnavailableException>().WithMessage("*/nonexistent/exo-gpu-test/libcuda.so.1*");
        Fake.InitCount.Should().Be(before, "the failed constructor shut NVML down again");
    }

    [Fact]
    public void Constructor_CuInitFailsOnConfiguredPath_ThrowsNamingTheError()
    {
        Fake.Reset(2);
        Fake.Inject("cuInit", -1, 999);
        var before = Fake.InitCount;

        var act = () => NvmlTestContext.Create(NvmlTestContext.Options());

        act.Should().Throw<GpuBackendUnavailableException>().WithMessage("*cuInit*CUDA_ERROR_UNKNOWN (999)*");
        Fake.InitCount.Should().Be(before);
    }

    [Fact]
    public async Task DiscoverAsync_CuInitFailsOnDefaultSearch_ToleratedWithoutOrdinals()
    {
        Fake.Reset(2);
        Fake.Inject("cuInit", -1, 999);
        var options = NvmlTestContext.Options();
        options.CudaLibraryPath = null;
        options.CudaSearchPaths = [Fake.Path];
        await using var backend = NvmlTestContext.Create(options);

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Should().HaveCount(2);
        devices.Should().OnlyContain(d => d.CudaOrdinal == null);
    }

    [Theory]
    [InlineData(FakeGpuLibrary.GpuIsLost)]
    [InlineData(FakeGpuLibrary.NoPermission)]
    [InlineData(8)] // INSUFFICIENT_POWER
    [InlineData(11)] // IRQ_ISSUE
    [InlineData(FakeGpuLibrary.Unknown)]
    public async Task DiscoverAsync_HandleOfOneDeviceFails_OthersListed(int code)
    {
        Fake.Reset(3);
        Fake.Inject("nvmlDeviceGetHandleByIndex_v2", 1, code);
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => d.Index).Should().Equal(0, 2);
    }

    [Theory]
    [InlineData("nvmlDeviceGetUUID")]
    [InlineData("nvmlDeviceGetName")]
    public async Task DiscoverAsync_IdentityOfOneDeviceUnreadable_ThatDeviceSkipped(string function)
    {
        Fake.Reset(2);
        Fake.Inject(function, 0, FakeGpuLibrary.GpuIsLost);
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Should().ContainSingle().Which.Index.Should().Be(1);
    }

    [Fact]
    public async Task DiscoverAsync_BlankIdentity_SkippedOrNamedGenerically()
    {
        Fake.Reset(2);
        Fake.Set(0, "uuid", "");
        Fake.Set(1, "name", " ");
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Should().ContainSingle().Which.Should().Match<GpuDevice>(d => d.Index == 1 && d.Name == "NVIDIA GPU");
    }

    [Theory]
    [InlineData("nvmlDeviceGetPciInfo_v3")]
    [InlineData("nvmlDeviceGetMaxClockInfo")]
    [InlineData("nvmlDeviceGetMemoryBusWidth")]
    [InlineData("nvmlDeviceGetMigMode")]
    [InlineData("nvmlDeviceGetCudaComputeCapability")]
    public async Task DiscoverAsync_OptionalFactNotSupported_LeftNull(string function)
    {
        Fake.Reset(1);
        Fake.Inject(function, 0, FakeGpuLibrary.NotSupported);
        var options = NvmlTestContext.Options();
        options.CudaLibraryPath = null;
        options.CudaSearchPaths = ["/nonexistent/exo-gpu-test/libcuda.so.1"]; // CUDA would fill some facts in
        await using var backend = NvmlTestContext.Create(options);

        var device = (await backend.DiscoverAsync(CancellationToken.None)).Should().ContainSingle().Subject;

        object? fact = function switch
        {
            "nvmlDeviceGetPciInfo_v3" => device.PciBusId,
            "nvmlDeviceGetMaxClockInfo" => device.MaxSmClockMHz ?? device.MaxMemoryClockMHz,
            "nvmlDeviceGetMemoryBusWidth" => device.MemoryBusWidthBits,
            "nvmlDeviceGetMigMode" => device.MigEnabled,
            _ => device.ComputeCapability,
        };
        fact.Should().BeNull();
    }

    [Fact]
    public async Task DiscoverAsync_CountFails_ThrowsUnavailableWithNvmlName()
    {
        Fake.Reset(2);
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());
        Fake.Inject("nvmlDeviceGetCount_v2", -1, FakeGpuLibrary.Unknown);

        var act = async () => await backend.DiscoverAsync(CancellationToken.None);

        (await act.Should().ThrowAsync<GpuBackendUnavailableException>()).WithMessage("*nvmlDeviceGetCount_v2*NVML_ERROR_UNKNOWN*");
    }

    [Fact]
    public async Task DiscoverAsync_CancellableToken_SameDevicesOffThread()
    {
        Fake.Reset(3);
        await using var backend = NvmlTestContext.Create(NvmlTestContext.Options());
        using var cts = new CancellationTokenSource();

        var devices = await backend.DiscoverAsync(cts.Token);

        devices.Select(d => d.Uuid).Should().Equal(FakeGpuLibrary.DefaultUuid(0), FakeGpuLibrary.DefaultUuid(1), FakeGpuLibrary.DefaultUuid(2));
    }

    [Fact]
    public void Constructor_InitFails_ThrowsUnavailableNamingTheError()
    {
        Fake.Reset(2);
        Fake.Inject("nvmlInit_v2", -1, 9); // DRIVER_NOT_LOADED
        var before = Fake.InitCount;

        var act = () => NvmlTestContext.Create(NvmlTestContext.Options());

        act.Should().Throw<GpuBackendUnavailableException>().WithMessage("*nvmlInit_v2*NVML_ERROR_DRIVER_NOT_LOADED (9)*");
        Fake.InitCount.Should().Be(before);
    }

    [Fact]
    public void Constructor_LibraryMissing_ThrowsNamingEveryPathSearched()
    {
        var options = NvmlTestContext.Options();
        options.NvmlLibraryPath = "/nonexistent/exo-gpu-test/libnvidia-ml.so.1";

        var act = () => NvmlTestContext.Create(options);

        act.Should().Throw<GpuBackendUnavailableException>()
            .WithMessage("*could not be loaded*Searched: '/nonexistent/exo-gpu-test/libnvidia-ml.so.1' (*No such file*");
    }

    [Fact]
    public void Constructor_NotAnNvmlLibrary_NamesTheMissingExports()
    {
        var options = NvmlTestContext.Options();
        options.NvmlLibraryPath = "libc.so.6";

        var act = () => NvmlTestContext.Create(options);

        act.Should().Throw<GpuBackendUnavailableException>().WithMessage("*'libc.so.6' is not usable*nvmlInit_v2*nvmlDeviceGetCount_v2*");
    }

    [Fact]
    public async Task Constructor_SecondNvmlLibraryInOneProcess_RefusedNamingTheBoundOne()
    {
        Fake.Reset(1);
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await NvmlTestContext.Create(NvmlTestContext.Options(), time).DisposeAsync(); // binds the main fake for the process
        var options = NvmlTestContext.Options();
        options.NvmlLibraryPath = FakeGpuLibrary.OldDriver.Path;

        var act = () => NvmlTestContext.Create(options);

        act.Should().Throw<GpuBackendUnavailableException>()
            .WithMessage($"*already bound in this process to '{FakeGpuLibrary.Main.Path}'*'{FakeGpuLibrary.OldDriver.Path}' cannot be used*");
    }

    [Fact]
    public async Task Backend_DiscoverAndSample_NeverCreatesACudaContext()
    {
        await using (var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start)))
        {
            foreach (var device in await backend.DiscoverAsync(CancellationToken.None))
            {
                await backend.SampleAsync(device, CancellationToken.None);
            }
        }

        Fake.Calls("cuDeviceGetCount").Should().BeGreaterThan(0, "CUDA was used for enumeration");
        Fake.Calls("cuDevicePrimaryCtxRetain").Should().Be(0);
        Fake.Calls("cuCtxCreate_v2").Should().Be(0);
    }

    [Fact]
    public async Task DisposeAsync_Twice_ShutsNvmlDownOnce()
    {
        Fake.Reset(1);
        var before = Fake.InitCount;
        var backend = NvmlTestContext.Create(NvmlTestContext.Options());
        Fake.InitCount.Should().Be(before + 1);

        await backend.DisposeAsync();
        await backend.DisposeAsync();

        Fake.InitCount.Should().Be(before);
        Fake.Calls("nvmlShutdown").Should().Be(1);
        var discover = async () => await backend.DiscoverAsync(CancellationToken.None);
        await discover.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(61_000)]
    public void Constructor_EventWaitTimeoutOutOfRange_ThrowsNamingOptions(int milliseconds)
    {
        var options = NvmlTestContext.Options();
        options.EventWaitTimeout = TimeSpan.FromMilliseconds(milliseconds);

        var act = () => NvmlTestContext.Create(options);

        act.Should().Throw<ArgumentException>().WithParameterName("options").WithMessage("*EventWaitTimeout*");
    }
}
