using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

/// <summary>
/// What real NVIDIA drivers do (nvidia-realities.md), modelled by the fake library and handled by the backend:
/// cuInit = CUDA_ERROR_NO_DEVICE without a reachable kernel driver, MIG-enabled GPUs (utilization NOT_SUPPORTED,
/// parent memory NO_PERMISSION, CUDA listing MIG devices), NO_PERMISSION / NO_DATA per field, real codes in skip logs.
/// </summary>
[Collection(FakeGpuTests.Name)]
public class NvmlRealityTests
{
    private const int ValueUnavailableEvent = 408;
    private const int CudaUnavailableEvent = 402;
    private const int DeviceSkippedEvent = 403;

    private static readonly FakeGpuLibrary Fake = FakeGpuLibrary.Main;

    private static (NvmlGpuBackendOptions Options, FakeLoggerFactory Logs) Options(string? processVisibleDevices = null)
    {
        var logs = new FakeLoggerFactory();
        var options = NvmlTestContext.Options(processVisibleDevices);
        options.ProcessEnvironment = name => name == "CUDA_VISIBLE_DEVICES" ? processVisibleDevices : null;
        return (options, logs);
    }

    [Fact]
    public async Task DiscoverAsync_CuInitNoDeviceWithoutVisibilitySettings_ListsNvmlDevicesWithoutOrdinalsAndSaysWhy()
    {
        Fake.Reset(3);
        Fake.Set(-1, "cuda.reachable", 0); // the CUDA driver cannot reach the kernel driver: cuInit = 100
        var (options, logs) = Options();
        await using var backend = NvmlTestContext.Create(options, null, logs);

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => d.Uuid).Should().Equal(FakeGpuLibrary.DefaultUuid(0), FakeGpuLibrary.DefaultUuid(1), FakeGpuLibrary.DefaultUuid(2));
        devices.Should().OnlyContain(d => d.CudaOrdinal == null);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == CudaUnavailableEvent)
            .Which.Message.Should().Contain("CUDA_ERROR_NO_DEVICE").And.Contain("unset");
    }

    [Fact]
    public async Task DiscoverAsync_CuInitNoDeviceAndProcessHidesEverything_ListsNoneAndSaysWhy()
    {
        Fake.Reset(2);
        Fake.Set(-1, "cuda.reachable", 0);
        var (options, logs) = Options(processVisibleDevices: "-1");
        await using var backend = NvmlTestContext.Create(options, null, logs);

        (await backend.DiscoverAsync(CancellationToken.None)).Should().BeEmpty();
        backend.NoDeviceReason.Should().Contain("CUDA_VISIBLE_DEVICES ('-1') hides all 2 devices");
    }

    [Fact]
    public async Task CreateAsync_AutoWhereVisibilityHidesEverything_FallbackReasonSaysWhy()
    {
        Fake.Reset(2);
        var (options, logs) = Options(processVisibleDevices: "-1");
        Fake.SetCudaOrder(); // the driver, started with CUDA_VISIBLE_DEVICES=-1, enumerates nothing

        var selection = await GpuBackendFactory.CreateAsync(GpuBackendChoice.Auto, options);
        await using var _ = selection.Backend;

        selection.Backend.Kind.Should().Be(GpuBackendKind.Simulated);
        selection.FallbackReason.Should().Be("NVML loaded but no device is visible: cuInit returned CUDA_ERROR_NO_DEVICE and this process's CUDA_VISIBLE_DEVICES ('-1') hides all 2 devices");
    }

    [Fact]
    public async Task SampleAsync_MigParentInUnprivilegedContainer_KeepsTemperaturePowerAndClocks()
    {
        Fake.Reset(2);
        Fake.Set(1, "mig.current", 1);
        Fake.Set(1, "temperature", 47);
        var (options, logs) = Options();
        await using var backend = NvmlTestContext.Create(options, null, logs);
        var mig = (await backend.DiscoverAsync(CancellationToken.None)).Single(d => d.Index == 1);

        var first = await backend.SampleAsync(mig, CancellationToken.None);
        var second = await backend.SampleAsync(mig, CancellationToken.None);

        first.TemperatureC.Should().Be(47);
        first.PowerW.Should().Be(70);
        first.PowerLimitW.Should().Be(700);
        first.SmClockMHz.Should().Be(1980);
        first.EccUncorrectedErrors.Should().Be(0);
        first.UtilizationPercent.Should().BeNull("utilization is NOT_SUPPORTED on a MIG-enabled GPU");
        first.MemoryUsedBytes.Should().BeNull("the parent's memory answers NO_PERMISSION");
        first.MemoryTotalBytes.Should().BeNull();
        second.TemperatureC.Should().Be(47);
        logs.Collector.GetSnapshot().Where(r => r.Id.Id == ValueUnavailableEvent).Should().ContainSingle("logged once per device and call")
            .Which.Message.Should().Contain(mig.Uuid).And.Contain("NVML_ERROR_NO_PERMISSION (4)");
    }

    [Fact]
    public async Task DiscoverAsync_MigParentWithTwoMigDevices_NoSliceTotalNoOrdinalListedOnce()
    {
        Fake.Reset(2);
        Fake.Set(0, "mig.current", 1);
        Fake.Set(0, "mig.slice.memory", 10L << 30);
        Fake.Set(0, "mig.slice.sm", 16);
        Fake.SetCudaOrder(0, 0, 1); // CUDA lists two MIG devices of GPU 0, then GPU 1
        var (options, logs) = Options();
        await using var backend = NvmlTestContext.Create(options, null, logs);

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => d.Index).Should().Equal(0, 1);
        var parent = devices[0];
        parent.MigEnabled.Should().BeTrue();
        parent.TotalMemoryBytes.Should().Be(20L << 30, "NVML refuses the parent's memory: its MIG devices hold 2 x 10 GiB, never one slice's total");
        parent.CudaOrdinal.Should().BeNull("CUDA numbers the MIG devices, not the GPU");
        parent.MultiprocessorCount.Should().BeNull("a slice's SM count is not the GPU's");
        devices[1].CudaOrdinal.Should().Be(2);
        devices[1].MultiprocessorCount.Should().Be(132);
    }

    [Fact]
    public async Task DiscoverAsync_PrivilegedMigParent_NvmlTotalNotTheSlices()
    {
        Fake.Reset(1);
        Fake.Set(0, "mig.current", 1);
        Fake.Set(0, "mig.privileged", 1);
        var (options, logs) = Options();
        await using var backend = NvmlTestContext.Create(options, null, logs);

        var device = (await backend.DiscoverAsync(CancellationToken.None)).Single();

        device.TotalMemoryBytes.Should().Be(85520809984);
        device.CudaOrdinal.Should().BeNull();
    }

    [Fact]
    public async Task DiscoverAsync_OverrideNamesAMigDeviceUuid_SelectsItsGpu()
    {
        Fake.Reset(3);
        Fake.Set(2, "mig.current", 1);
        Fake.Set(2, "mig.privileged", 1);
        var (options, logs) = Options();
        options.CudaVisibleDevices = "MIG-b0000002-4444-5555-6666-000000000202,0"; // the fake's MIG UUID of CUDA ordinal 2
        await using var backend = NvmlTestContext.Create(options, null, logs);

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Select(d => d.Index).Should().Equal([0, 2], "a MIG-<uuid> entry is a device, not the end of the list");
    }

    [Theory]
    [InlineData(FakeGpuLibrary.NoPermission)]
    [InlineData(21)] // NO_DATA
    public async Task SampleAsync_OneFieldAnswersNoPermissionOrNoData_OnlyThatValueIsNull(int code)
    {
        Fake.Reset(1);
        var (options, logs) = Options();
        await using var backend = NvmlTestContext.Create(options, null, logs);
        var device = (await backend.DiscoverAsync(CancellationToken.None)).Single();
        Fake.Inject("nvmlDeviceGetPowerUsage", 0, code);

        var sample = await backend.SampleAsync(device, CancellationToken.None);
        await backend.SampleAsync(device, CancellationToken.None);

        sample.PowerW.Should().BeNull();
        sample.TemperatureC.Should().Be(35);
        sample.MemoryUsedBytes.Should().Be(1L << 30);
        sample.UtilizationPercent.Should().NotBeNull();
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == ValueUnavailableEvent && r.Level == LogLevel.Information)
            .Which.Message.Should().Contain("nvmlDeviceGetPowerUsage").And.Contain($"({code})");
    }

    [Fact]
    public async Task DiscoverAsync_DeviceWithoutTotalMemory_SkipLogCarriesTheRealCode()
    {
        Fake.Reset(2);
        Fake.Inject("nvmlDeviceGetMemoryInfo_v2", 1, FakeGpuLibrary.NoPermission);
        var (options, logs) = Options();
        options.CudaLibraryPath = null;
        options.CudaSearchPaths = ["/nonexistent/exo-gpu-test/libcuda.so.1"]; // no CUDA total to fall back on
        await using var backend = NvmlTestContext.Create(options, null, logs);

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        devices.Should().ContainSingle().Which.Index.Should().Be(0);
        logs.Collector.GetSnapshot().Should().ContainSingle(r => r.Id.Id == DeviceSkippedEvent)
            .Which.Message.Should().Be("NVML device 1 skipped: nvmlDeviceGetMemoryInfo_v2 returned NVML_ERROR_NO_PERMISSION (4)");
    }
}
