using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

[Collection(FakeGpuTests.Name)]
public class NvmlSamplingTests
{
    private static readonly FakeGpuLibrary Fake = FakeGpuLibrary.Main;

    /// <summary>Every nvmlReturn_t a sampling call can fail with, other than the per-field "unknown" answers (NOT_SUPPORTED, NO_PERMISSION, NO_DATA) and GPU_IS_LOST, and an undefined one.</summary>
    public static TheoryData<int, string> FailureCodes()
    {
        var data = new TheoryData<int, string>();
        foreach (var code in Enum.GetValues<NvmlReturn>())
        {
            if (code is not (NvmlReturn.Success or NvmlReturn.NotSupported or NvmlReturn.NoPermission or NvmlReturn.NoData or NvmlReturn.GpuIsLost))
            {
                data.Add((int)code, NvmlErrors.Name(code));
            }
        }

        data.Add(77, "NVML_ERROR_77");
        return data;
    }

    public static TheoryData<string> SamplingFunctions() =>
    [
        "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetTemperatureV", "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetClockInfo", "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetTotalEccErrors",
    ];

    [Fact]
    public async Task SampleAsync_ScriptedDevice_ReadsEveryValueInLibraryUnits()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 2);
        Fake.Set(1, "memory.total", 85520809984);
        Fake.Set(1, "memory.used", 3L << 30);
        Fake.Set(1, "memory.reserved", 600L << 20);
        Fake.Set(1, "utilization.gpu", 87);
        Fake.Set(1, "utilization.memory", 41);
        Fake.Set(1, "temperature", 66);
        Fake.Set(1, "power.mw", 412_345);
        Fake.Set(1, "power.limit.mw", 700_000);
        Fake.Set(1, "clock.sm", 1755);
        Fake.Set(1, "clock.reasons", 0x4 | 0x40);
        Fake.Set(1, "ecc.corrected", 12);
        Fake.Set(1, "ecc.uncorrected", 2);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[1];
        time.Advance(TimeSpan.FromSeconds(5));

        var sample = await backend.SampleAsync(device, CancellationToken.None);

        sample.Timestamp.Should().Be(NvmlTestContext.Start + TimeSpan.FromSeconds(5));
        sample.MemoryTotalBytes.Should().Be(85520809984);
        sample.MemoryUsedBytes.Should().Be(3L << 30, "v2 reports reserved memory apart, as nvidia-smi does");
        sample.UtilizationPercent.Should().Be(87);
        sample.MemoryUtilizationPercent.Should().Be(41);
        sample.TemperatureC.Should().Be(66);
        sample.PowerW.Should().Be(412.345);
        sample.PowerLimitW.Should().Be(700);
        sample.SmClockMHz.Should().Be(1755);
        sample.ClockEventReasons.Should().Be(GpuClockEventReasons.SwPowerCap | GpuClockEventReasons.HwThermalSlowdown);
        sample.EccCorrectedErrors.Should().Be(12);
        sample.EccUncorrectedErrors.Should().Be(2);
        Fake.Calls("nvmlDeviceGetMemoryInfo").Should().Be(0);
        Fake.Calls("nvmlDeviceGetCurrentClocksThrottleReasons").Should().Be(0);
        Fake.Calls("nvmlDeviceGetTemperature").Should().Be(0);
    }

    [Fact]
    public async Task SampleAsync_UtilizationSeries_FollowedReadingByReading()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        Fake.SetUtilizationSeries(0, 5, 50, 95);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];

        var readings = new List<double?>();
        for (var i = 0; i < 4; i++)
        {
            readings.Add((await backend.SampleAsync(device, CancellationToken.None)).UtilizationPercent);
        }

        readings.Should().Equal(5, 50, 95, 5);
    }

    [Theory]
    [MemberData(nameof(SamplingFunctions))]
    public async Task SampleAsync_NotSupported_OnlyThatValueIsNull(string function)
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        Fake.Inject(function, 0, FakeGpuLibrary.NotSupported);

        var sample = await backend.SampleAsync(device, CancellationToken.None);

        var values = new Dictionary<string, object?>
        {
            ["memory"] = sample.MemoryUsedBytes,
            ["memoryTotal"] = sample.MemoryTotalBytes,
            ["utilization"] = sample.UtilizationPercent,
            ["memoryUtilization"] = sample.MemoryUtilizationPercent,
            ["temperature"] = sample.TemperatureC,
            ["power"] = sample.PowerW,
            ["limit"] = sample.PowerLimitW,
            ["clock"] = sample.SmClockMHz,
            ["reasons"] = sample.ClockEventReasons,
            ["eccCorrected"] = sample.EccCorrectedErrors,
            ["eccUncorrected"] = sample.EccUncorrectedErrors,
        };
        string[] expectedNull = function switch
        {
            "nvmlDeviceGetMemoryInfo_v2" => ["memory", "memoryTotal"],
            "nvmlDeviceGetUtilizationRates" => ["utilization", "memoryUtilization"],
            "nvmlDeviceGetTemperatureV" => ["temperature"],
            "nvmlDeviceGetPowerUsage" => ["power"],
            "nvmlDeviceGetEnforcedPowerLimit" => ["limit"],
            "nvmlDeviceGetClockInfo" => ["clock"],
            "nvmlDeviceGetCurrentClocksEventReasons" => ["reasons"],
            _ => ["eccCorrected", "eccUncorrected"],
        };
        values.Where(v => v.Value is null).Select(v => v.Key).Should().BeEquivalentTo(expectedNull);
    }

    [Theory]
    [MemberData(nameof(SamplingFunctions))]
    public async Task SampleAsync_GpuIsLost_ThrowsDeviceLostNamingTheDevice(string function)
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.Inject(function, 1, FakeGpuLibrary.GpuIsLost);

        var act = async () => await backend.SampleAsync(devices[1], CancellationToken.None);

        var thrown = await act.Should().ThrowAsync<GpuDeviceLostException>();
        thrown.Which.Uuid.Should().Be(devices[1].Uuid);
        thrown.Which.Message.Should().Contain(function).And.Contain("NVML_ERROR_GPU_IS_LOST (15)");
        (await backend.SampleAsync(devices[0], CancellationToken.None)).UtilizationPercent.Should().NotBeNull("the other device keeps working");
    }

    [Fact]
    public async Task SampleAsync_LostMidRun_ReadingsThenLostThenRediscoveryDropsIt()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 3);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.Inject("*", 2, FakeGpuLibrary.GpuIsLost, after: 2 * 9); // two full readings (nine calls each), then lost

        await backend.SampleAsync(devices[2], CancellationToken.None);
        await backend.SampleAsync(devices[2], CancellationToken.None);
        var third = async () => await backend.SampleAsync(devices[2], CancellationToken.None);

        await third.Should().ThrowAsync<GpuDeviceLostException>();
        await third.Should().ThrowAsync<GpuDeviceLostException>("it stays lost");
        (await backend.DiscoverAsync(CancellationToken.None)).Select(d => d.Index).Should().Equal(0, 1);
    }

    [Theory]
    [MemberData(nameof(FailureCodes))]
    public async Task SampleAsync_OtherError_ThrowsSamplingExceptionWithNvmlNameAndCode(int code, string name)
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        Fake.Inject("nvmlDeviceGetPowerUsage", 0, code);

        var act = async () => await backend.SampleAsync(device, CancellationToken.None);

        var thrown = await act.Should().ThrowAsync<GpuSamplingException>();
        thrown.Which.ErrorName.Should().Be(name);
        thrown.Which.ErrorCode.Should().Be(code);
        thrown.Which.Message.Should().Contain("nvmlDeviceGetPowerUsage").And.Contain(device.Uuid).And.Contain(name);
    }

    [Fact]
    public async Task SampleAsync_FailureOnOneDevice_OthersRead()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 3);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.Inject("nvmlDeviceGetUtilizationRates", 1, 17); // OPERATING_SYSTEM (NO_PERMISSION leaves only that value unknown: NvmlRealityTests)

        var results = new List<string>();
        foreach (var device in devices)
        {
            try
            {
                await backend.SampleAsync(device, CancellationToken.None);
                results.Add("ok");
            }
            catch (GpuSamplingException e)
            {
                results.Add(e.ErrorName!);
            }
        }

        results.Should().Equal("ok", "NVML_ERROR_OPERATING_SYSTEM", "ok");
    }

    [Fact]
    public async Task SampleAsync_TransientError_NextReadingSucceeds()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        Fake.Inject("nvmlDeviceGetClockInfo", 0, FakeGpuLibrary.Timeout, times: 1);

        var first = async () => await backend.SampleAsync(device, CancellationToken.None);

        (await first.Should().ThrowAsync<GpuSamplingException>()).Which.ErrorName.Should().Be("NVML_ERROR_TIMEOUT");
        (await backend.SampleAsync(device, CancellationToken.None)).SmClockMHz.Should().Be(1980);
    }

    [Fact]
    public async Task SampleAsync_MemoryV2RejectsTheVersion_FallsBackToV1ForGood()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        Fake.Set(0, "memory.used", 1L << 30);
        Fake.Set(0, "memory.reserved", 512L << 20);
        Fake.Inject("nvmlDeviceGetMemoryInfo_v2", 0, FakeGpuLibrary.ArgumentVersionMismatch);
        var before = Fake.Calls("nvmlDeviceGetMemoryInfo_v2");

        var first = await backend.SampleAsync(device, CancellationToken.None);
        var second = await backend.SampleAsync(device, CancellationToken.None);

        first.MemoryUsedBytes.Should().Be((1L << 30) + (512L << 20), "v1 counts reserved memory as used");
        second.MemoryUsedBytes.Should().Be(first.MemoryUsedBytes);
        (Fake.Calls("nvmlDeviceGetMemoryInfo_v2") - before).Should().Be(1, "v2 is not asked again");
        Fake.Calls("nvmlDeviceGetMemoryInfo").Should().BeGreaterThanOrEqualTo(2);
    }

    [Fact]
    public async Task SampleAsync_TemperatureVRejectsTheVersion_FallsBackToTheClassicCall()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        Fake.Set(0, "temperature", 71);
        Fake.Inject("nvmlDeviceGetTemperatureV", 0, FakeGpuLibrary.ArgumentVersionMismatch);

        (await backend.SampleAsync(device, CancellationToken.None)).TemperatureC.Should().Be(71);
        (await backend.SampleAsync(device, CancellationToken.None)).TemperatureC.Should().Be(71);

        Fake.Calls("nvmlDeviceGetTemperatureV").Should().Be(1);
        Fake.Calls("nvmlDeviceGetTemperature").Should().Be(2);
    }

    [Fact]
    public async Task SampleAsync_CancellableToken_ReadsOffThreadWithTheSameValues()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[1];
        using var cts = new CancellationTokenSource();

        var inline = await backend.SampleAsync(device, CancellationToken.None);
        var offThread = await backend.SampleAsync(device, cts.Token);

        offThread.Should().Be(inline);
    }

    [Fact]
    public async Task SampleAsync_HungDriverCall_CancelsPromptlyAndJoinsTheHungCall()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.Block("nvmlDeviceGetPowerUsage", 0);
        try
        {
            using var first = new CancellationTokenSource();
            var hung = backend.SampleAsync(devices[0], first.Token).AsTask();
            await NvmlTestContext.EventuallyAsync(() => Fake.BlockedCalls == 1, "the reading reaches the hung call");
            hung.IsCompleted.Should().BeFalse();
            await first.CancelAsync();
            await FluentActions.Awaiting(() => hung).Should().ThrowAsync<OperationCanceledException>();

            using var second = new CancellationTokenSource();
            var joined = backend.SampleAsync(devices[0], second.Token).AsTask();
            (await backend.SampleAsync(devices[1], CancellationToken.None)).PowerW.Should().Be(70, "other devices are not held up");
            Fake.Calls("nvmlDeviceGetUtilizationRates").Should().Be(2, "the second reading of device 0 joined the hung one instead of calling again");

            Fake.Unblock();
            (await joined.WaitAsync(NvmlTestContext.Guard)).PowerW.Should().Be(70);
        }
        finally
        {
            Fake.Unblock();
        }
    }

    [Fact]
    public async Task SampleAsync_CancelledToken_ThrowsWithoutCalling()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        var before = Fake.Calls("nvmlDeviceGetUtilizationRates");

        var act = async () => await backend.SampleAsync(device, cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        Fake.Calls("nvmlDeviceGetUtilizationRates").Should().Be(before);
    }

    [Fact]
    public async Task SampleAsync_DeviceOfAnotherBackend_ThrowsArgumentException()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        await backend.DiscoverAsync(CancellationToken.None);
        await using var simulated = new SimulatedGpuBackend();
        var stranger = new GpuDevice("GPU-00000000-dead-beef-0000-000000000000", 0, "NVIDIA H100", 1L << 30, GpuBackendKind.Nvml);

        var fromSimulated = async () => await backend.SampleAsync(simulated.AllDevices[0], CancellationToken.None);
        var unknown = async () => await backend.SampleAsync(stranger, CancellationToken.None);
        var missing = async () => await backend.SampleAsync(null!, CancellationToken.None);

        await fromSimulated.Should().ThrowAsync<ArgumentException>().WithParameterName("device");
        await unknown.Should().ThrowAsync<ArgumentException>().WithParameterName("device");
        await missing.Should().ThrowAsync<ArgumentNullException>().WithParameterName("device");
    }

    [Fact]
    public async Task SampleAsync_EqualDeviceInstance_Accepted()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[1];
        var copy = new GpuDevice(device.Uuid, device.Index, device.Name, device.TotalMemoryBytes, GpuBackendKind.Nvml);

        (await backend.SampleAsync(copy, CancellationToken.None)).MemoryTotalBytes.Should().Be(device.TotalMemoryBytes);
    }

    [Fact]
    public async Task SampleAsync_AfterDispose_ThrowsObjectDisposed()
    {
        var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        await backend.DisposeAsync();

        var act = async () => await backend.SampleAsync(device, CancellationToken.None);

        await act.Should().ThrowAsync<ObjectDisposedException>();
    }
}
