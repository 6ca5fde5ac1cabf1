using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Simulated;

public class SimulatedGpuBackendTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static SimulatedGpuBackend Create(FakeTimeProvider time, int seed = 1, string faults = "", SimulatedClusterProfile? profile = null) =>
        new(profile ?? SimulatedClusterProfile.Homogeneous(), SimulatedFaultPlan.Parse(faults), seed, time);

    private static async Task<GpuSample[]> SampleAllAsync(SimulatedGpuBackend backend)
    {
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        var samples = new GpuSample[devices.Count];
        for (var i = 0; i < devices.Count; i++)
        {
            samples[i] = await backend.SampleAsync(devices[i], CancellationToken.None);
        }

        return samples;
    }

    [Fact]
    public async Task DiscoverAsync_DefaultProfile_EightDevicesOf80GB()
    {
        await using var backend = Create(new FakeTimeProvider(Start));
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        devices.Should().HaveCount(8);
        devices.Select(d => d.Index).Should().Equal(0, 1, 2, 3, 4, 5, 6, 7);
        devices.Should().OnlyContain(d => d.TotalMemoryBytes == 80L * 1024 * 1024 * 1024 && d.IsSimulated);
        devices.Select(d => d.Uuid).Should().OnlyHaveUniqueItems().And.OnlyContain(u => u.StartsWith("GPU-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DiscoverAsync_Heterogeneous_MixesSizesAndGenerations()
    {
        await using var backend = Create(new FakeTimeProvider(Start), profile: SimulatedClusterProfile.Heterogeneous());
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        devices.Select(d => d.TotalMemoryBytes).Distinct().Should().HaveCountGreaterThan(2);
        devices.Select(d => d.ComputeCapability).Distinct().Should().HaveCountGreaterThan(2);
    }

    [Fact]
    public async Task SampleAsync_SameSeedAndClock_BitForBitEqual()
    {
        var timeA = new FakeTimeProvider(Start);
        var timeB = new FakeTimeProvider(Start);
        await using var a = Create(timeA, seed: 42);
        await using var b = Create(timeB, seed: 42);
        for (var step = 0; step < 50; step++)
        {
            (await SampleAllAsync(a)).Should().Equal(await SampleAllAsync(b));
            timeA.Advance(TimeSpan.FromSeconds(7.3));
            timeB.Advance(TimeSpan.FromSeconds(7.3));
        }
    }

    [Fact]
    public async Task SampleAsync_SamplingOrderAndFrequency_DoNotChangeReadings()
    {
        var timeA = new FakeTimeProvider(Start);
        var timeB = new FakeTimeProvider(Start);
        await using var a = Create(timeA);
        await using var b = Create(timeB);
        for (var i = 0; i < 10; i++)
        {
            await SampleAllAsync(a); // a is sampled every second, b only at the end
            timeA.Advance(TimeSpan.FromSeconds(1));
        }

        timeB.Advance(TimeSpan.FromSeconds(10));
        (await SampleAllAsync(a)).Should().Equal(await SampleAllAsync(b));
    }

    [Fact]
    public async Task SampleAsync_OtherSeed_Differs()
    {
        var time = new FakeTimeProvider(Start);
        await using var a = Create(time, seed: 1);
        await using var b = Create(time, seed: 2);
        (await SampleAllAsync(a)).Should().NotEqual(await SampleAllAsync(b));
    }

    [Fact]
    public async Task SampleAsync_OverTime_ReadingsMoveWithinPlausibleBounds()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[0];
        var utilizations = new List<double>();
        for (var i = 0; i < 600; i++)
        {
            var s = await backend.SampleAsync(device, CancellationToken.None);
            s.UtilizationPercent.Should().BeInRange(0, 100);
            s.MemoryUsedBytes.Should().BeInRange(0, device.TotalMemoryBytes);
            s.TemperatureC.Should().BeInRange(20, 95);
            s.PowerW.Should().BeInRange(0, s.PowerLimitW!.Value);
            s.Timestamp.Should().Be(time.GetUtcNow());
            utilizations.Add(s.UtilizationPercent!.Value);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        (utilizations.Max() - utilizations.Min()).Should().BeGreaterThan(5, "readings should move over ten minutes");
    }

    [Fact]
    public async Task SetWorkload_AddsUtilizationMemoryAndPower()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time);
        var device = (await backend.DiscoverAsync(CancellationToken.None))[3];
        var before = await backend.SampleAsync(device, CancellationToken.None);
        backend.SetWorkload(3, 60, 20L << 30);
        var after = await backend.SampleAsync(device, CancellationToken.None);
        after.UtilizationPercent.Should().BeGreaterThan(before.UtilizationPercent!.Value + 50);
        after.MemoryUsedBytes.Should().Be(before.MemoryUsedBytes + (20L << 30));
        after.PowerW.Should().BeGreaterThan(before.PowerW!.Value);
    }

    [Theory]
    [InlineData(-1, 10, 0, "deviceIndex")]
    [InlineData(8, 10, 0, "deviceIndex")]
    [InlineData(0, 101, 0, "utilizationPercent")]
    [InlineData(0, double.NaN, 0, "utilizationPercent")]
    [InlineData(0, 10, -1, "memoryBytes")]
    public async Task SetWorkload_BadArgument_ThrowsNamingIt(int index, double util, long memory, string param)
    {
        await using var backend = Create(new FakeTimeProvider(Start));
        var act = () => backend.SetWorkload(index, util, memory);
        act.Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be(param);
    }

    [Fact]
    public async Task FaultLost_DuringWindow_SampleThrowsLostAndDiscoveryOmits_ThenRecovers()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time, faults: "lost:2@10s+20s");
        var device = backend.AllDevices[2];
        await backend.SampleAsync(device, CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(10));
        var act = async () => await backend.SampleAsync(device, CancellationToken.None);
        (await act.Should().ThrowAsync<GpuDeviceLostException>()).Which.Uuid.Should().Be(device.Uuid);
        (await backend.DiscoverAsync(CancellationToken.None)).Should().HaveCount(7).And.NotContain(device);

        time.Advance(TimeSpan.FromSeconds(20));
        (await backend.DiscoverAsync(CancellationToken.None)).Should().HaveCount(8).And.Contain(device);
        await backend.SampleAsync(device, CancellationToken.None);
    }

    [Fact]
    public async Task FaultThrow_DuringWindow_SamplingExceptionOnlyOnThatDevice()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time, faults: "throw:1@0s+5s");
        var act = async () => await backend.SampleAsync(backend.AllDevices[1], CancellationToken.None);
        var thrown = await act.Should().ThrowAsync<GpuSamplingException>();
        thrown.Which.ErrorCode.Should().Be(999);
        await backend.SampleAsync(backend.AllDevices[0], CancellationToken.None);

        time.Advance(TimeSpan.FromSeconds(5));
        await backend.SampleAsync(backend.AllDevices[1], CancellationToken.None);
    }

    [Fact]
    public async Task FaultHang_CallerTokenFires_ThrowsOperationCanceled()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time, faults: "hang:0@0s");
        using var cts = new CancellationTokenSource();
        var pending = backend.SampleAsync(backend.AllDevices[0], cts.Token).AsTask();
        pending.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromHours(1));
        pending.IsCompleted.Should().BeFalse("a hang without a duration lasts until the token fires");
        await cts.CancelAsync();
        await FluentActions.Awaiting(() => pending).Should().ThrowAsync<OperationCanceledException>();
    }

    [Fact]
    public async Task FaultHang_WithDuration_ReturnsWhenFaultEnds()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time, faults: "hang:0@0s+30s");
        var pending = backend.SampleAsync(backend.AllDevices[0], CancellationToken.None).AsTask();
        time.Advance(TimeSpan.FromSeconds(29));
        pending.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromSeconds(1));
        var sample = await pending.WaitAsync(TimeSpan.FromSeconds(10));
        sample.Timestamp.Should().Be(Start + TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task FaultHot_DuringWindow_HotAndThermallyThrottled_ThenRecovers()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time, faults: "hot:4@60s+60s");
        var device = backend.AllDevices[4];
        time.Advance(TimeSpan.FromSeconds(59));
        var normal = await backend.SampleAsync(device, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(1));
        var hot = await backend.SampleAsync(device, CancellationToken.None);
        hot.TemperatureC.Should().BeGreaterThan(normal.TemperatureC!.Value + 35);
        hot.ClockEventReasons!.Value.HasFlag(GpuClockEventReasons.HwThermalSlowdown).Should().BeTrue();
        hot.SmClockMHz.Should().BeLessThan(device.MaxSmClockMHz!.Value);
        time.Advance(TimeSpan.FromSeconds(60));
        var recovered = await backend.SampleAsync(device, CancellationToken.None);
        recovered.TemperatureC.Should().BeLessThan(80);
        recovered.ClockEventReasons!.Value.HasFlag(GpuClockEventReasons.HwThermalSlowdown).Should().BeFalse();
    }

    [Fact]
    public async Task FaultEcc_DuringWindow_ReportsUncorrectedErrors_ThenRecovers()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time, faults: "ecc:5@1s+1s");
        var device = backend.AllDevices[5];
        (await backend.SampleAsync(device, CancellationToken.None)).EccUncorrectedErrors.Should().Be(0);
        time.Advance(TimeSpan.FromSeconds(1));
        (await backend.SampleAsync(device, CancellationToken.None)).EccUncorrectedErrors.Should().BeGreaterThan(0);
        time.Advance(TimeSpan.FromSeconds(1));
        (await backend.SampleAsync(device, CancellationToken.None)).EccUncorrectedErrors.Should().Be(0);
    }

    [Fact]
    public async Task WatchEventsAsync_FaultPlan_YieldsEventsAtTheirTimes()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Create(time, faults: "lost:2@10s,hot:1@5s,xid:3@20s#48,ecc:0@30s");
        await using var events = backend.WatchEventsAsync(CancellationToken.None).GetAsyncEnumerator();
        var expected = new[]
        {
            (At: 10, Kind: GpuDeviceEventKind.Lost, Device: 2, Code: 0L),
            (At: 20, Kind: GpuDeviceEventKind.CriticalXid, Device: 3, Code: 48L),
            (At: 30, Kind: GpuDeviceEventKind.DoubleBitEccError, Device: 0, Code: 0L),
        };
        foreach (var e in expected)
        {
            var next = events.MoveNextAsync().AsTask();
            time.Advance(Start + TimeSpan.FromSeconds(e.At) - time.GetUtcNow() - TimeSpan.FromMilliseconds(1));
            next.IsCompleted.Should().BeFalse("the event is not due yet");
            time.Advance(TimeSpan.FromMilliseconds(1));
            (await next.WaitAsync(TimeSpan.FromSeconds(10))).Should().BeTrue();
            events.Current.Should().Be(new GpuDeviceEvent(backend.AllDevices[e.Device].Uuid, e.Kind, e.Code, Start + TimeSpan.FromSeconds(e.At)));
        }

        (await events.MoveNextAsync()).Should().BeFalse("the plan has no more events");
    }

    [Fact]
    public async Task Constructor_FaultOnMissingDevice_ThrowsNamingThePlan()
    {
        var act = () => Create(new FakeTimeProvider(Start), faults: "lost:8@0s");
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("faultPlan");
        FluentActions.Invoking(() => new SimulatedGpuBackend(new SimulatedGpuBackendOptions { Faults = "lost:8@0s" }))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("options");
        await Task.CompletedTask;
    }

    [Fact]
    public async Task SampleAsync_DeviceOfAnotherCluster_ThrowsArgumentException()
    {
        await using var backend = Create(new FakeTimeProvider(Start));
        var foreign = new GpuDevice("GPU-other", 0, "X", 1, GpuBackendKind.Simulated);
        var act = async () => await backend.SampleAsync(foreign, CancellationToken.None);
        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("device");
    }

    [Fact]
    public async Task DisposeAsync_Twice_IsIdempotentAndLaterCallsThrowObjectDisposed()
    {
        var backend = Create(new FakeTimeProvider(Start));
        await backend.DisposeAsync();
        await backend.DisposeAsync();
        var act = async () => await backend.DiscoverAsync(CancellationToken.None);
        await act.Should().ThrowAsync<ObjectDisposedException>();
        var sample = async () => await backend.SampleAsync(backend.AllDevices[0], CancellationToken.None);
        await sample.Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task DisposeAsync_WhileHung_HungCallEndsWithObjectDisposed()
    {
        var time = new FakeTimeProvider(Start);
        var backend = Create(time, faults: "hang:0@0s");
        var pending = backend.SampleAsync(backend.AllDevices[0], CancellationToken.None).AsTask();
        await backend.DisposeAsync();
        await FluentActions.Awaiting(() => pending.WaitAsync(TimeSpan.FromSeconds(10))).Should().ThrowAsync<ObjectDisposedException>();
    }
}
