using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Distribution;
using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

public class FacadeTests
{
    /// <summary>A manager over fake devices whose memory in use is <paramref name="usedGiB"/>, per device.</summary>
    private static async Task<(GpuClusteringManager Manager, FakeGpuBackend Backend)> StartAsync(FakeTimeProvider time, params long[] usedGiB)
    {
        var backend = new FakeGpuBackend(time, usedGiB.Length);
        backend.OnSample = (d, _) => new ValueTask<GpuSample>(Sample(time.GetUtcNow(), usedBytes: usedGiB[d.Index] * GiB));
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        return (manager, backend);
    }

    [Fact]
    public async Task SelectBest_MemoryMinimum_OnlyDevicesWithThatMuchFreeAfterReservations()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartAsync(time, 70, 70, 40, 5);
        await using var _ = Stop(manager, time);
        var d = backend.AllDevices;

        for (var i = 0; i < 50; i++)
        {
            manager.SelectBest(50 * GiB).Should().Be(d[3]);
            manager.SelectBest(30 * GiB).Should().BeOneOf(d[2], d[3]);
        }

        manager.Invoking(m => m.SelectBest(76 * GiB)).Should().Throw<NoEligibleGpuException>().WithMessage("*nearest*");

        // Reservations count: 30 GiB leased on device 2 leaves it about 9.5 GiB.
        manager.TryAcquire(new GpuRequest { MemoryBytes = 30 * GiB, IncludeUuids = [d[2].Uuid] }, out var lease).Should().BeTrue();
        for (var i = 0; i < 50; i++)
        {
            manager.SelectBest(30 * GiB).Should().Be(d[3]);
        }

        await lease.DisposeAsync();
        manager.Invoking(m => m.SelectBest(-1)).Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("minimumFreeMemoryBytes");
    }

    [Fact]
    public async Task SelectBest_UnhealthyDevice_NeverChosenEvenWithTheMostFreeMemory()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartAsync(time, 70, 40, 5);
        await using var _ = Stop(manager, time);
        var d = backend.AllDevices;

        manager.Telemetry.Record(d[2].Uuid, Sample(Start, usedBytes: 5 * GiB, eccUncorrected: 2));

        manager.GetStatus(d[2].Uuid).Health.Should().Be(GpuHealth.Unhealthy);
        for (var i = 0; i < 50; i++)
        {
            manager.SelectBest(20 * GiB).Should().Be(d[1]);
        }

        manager.Invoking(m => m.SelectBest(50 * GiB)).Should().Throw<NoEligibleGpuException>();
    }

    [Fact]
    public async Task Distribute_ManyItemCounts_ExactAndNothingOnALostDevice()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartAsync(time, 10, 60, 20, 0, 35);
        await using var _ = Stop(manager, time);
        var lost = backend.AllDevices[2];
        backend.Listed = [.. backend.AllDevices.Where(x => !x.Equals(lost))];
        await manager.RediscoverAsync().WaitAsync(Guard);
        manager.GetStatus(lost.Uuid).Health.Should().Be(GpuHealth.Lost);
        var usable = backend.AllDevices.Where(x => !x.Equals(lost)).ToArray();
        var free = usable.Select(x => (double)manager.GetStatus(x.Uuid).Latest!.Value.MemoryFreeBytes!.Value).ToArray();
        var random = new Random(20260101);

        for (var n = 0; n < 3000; n++)
        {
            long items = n switch
            {
                0 => 0,
                1 => 1,
                2 => 3,
                _ => random.NextInt64(0, n % 2 == 0 ? 1_000 : 1_000_000_000),
            };

            var uniform = manager.DistributeUniform(items);
            uniform.Devices.Should().Equal(usable);
            uniform.Plan.Counts.Sum().Should().Be(items);
            uniform.Plan.Unassigned.Should().Be(0);
            uniform.Plan.Counts.Should().OnlyContain(c => c == items / usable.Length || c == (items / usable.Length) + 1);

            var byCapacity = manager.DistributeByCapacity(items);
            byCapacity.Devices.Should().Equal(usable);
            byCapacity.Plan.Counts.Sum().Should().Be(items);
            for (var i = 0; i < usable.Length; i++)
            {
                var quota = items * free[i] / free.Sum();
                Math.Abs(byCapacity.Plan.Counts[i] - quota).Should().BeLessThan(1.000001, "a count is its quota rounded up or down (items {0})", items);
            }
        }

        manager.Invoking(m => m.DistributeUniform(-1)).Should().Throw<ArgumentOutOfRangeException>();
        manager.Invoking(m => m.DistributeByCapacity(WorkloadDistributor.MaxItems + 1)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public async Task DistributeByCapacity_DeviceWithoutMemoryReadings_LeftOutButUniformUsesIt()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartAsync(time, 10, 10, 10);
        await using var _ = Stop(manager, time);
        var blind = backend.AllDevices[1];
        manager.Telemetry.Record(blind.Uuid, new GpuSample { Timestamp = Start, UtilizationPercent = 20, TemperatureC = 50 });

        manager.DistributeByCapacity(101).Devices.Should().Equal(backend.AllDevices[0], backend.AllDevices[2]);
        manager.DistributeByCapacity(101).Plan.Counts.Sum().Should().Be(101);
        manager.DistributeUniform(101).Devices.Should().Equal(backend.AllDevices);
    }

    [Fact]
    public async Task Distribute_NoDeviceFresh_ThrowsNoEligible()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartAsync(time, 10, 10);
        await using var __ = Stop(manager, time);

        time.Advance(TimeSpan.FromSeconds(6));

        manager.Invoking(m => m.DistributeUniform(10)).Should().Throw<NoEligibleGpuException>();
        manager.Invoking(m => m.DistributeByCapacity(10)).Should().Throw<NoEligibleGpuException>();
    }

    [Fact]
    public async Task GetClusterTelemetry_SomeDevicesStaleOrLost_CountsOnlyFreshOnes()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartAsync(time, 10, 10, 10, 10);
        await using var _ = Stop(manager, time);
        var d = backend.AllDevices;
        manager.GetClusterTelemetry().FreshDeviceCount.Should().Be(4);

        time.Advance(TimeSpan.FromSeconds(6));
        var now = time.GetUtcNow();
        manager.Telemetry.Record(d[0].Uuid, Sample(now, usedBytes: 20 * GiB, temperature: 40));
        manager.Telemetry.Record(d[1].Uuid, Sample(now, usedBytes: 30 * GiB, temperature: 60));

        var cluster = manager.GetClusterTelemetry();
        (cluster.DeviceCount, cluster.FreshDeviceCount).Should().Be((4, 2));
        (cluster.TotalMemoryBytes, cluster.UsedMemoryBytes, cluster.FreeMemoryBytes).Should().Be((160 * GiB, 50 * GiB, 110 * GiB));
        (cluster.MeanUtilizationPercent, cluster.MeanTemperatureC, cluster.TotalPowerW).Should().Be((30.0, 50.0, 500.0));
        cluster.Timestamp.Should().Be(now);

        backend.Listed = [d[0], d[2], d[3]];
        await manager.RediscoverAsync().WaitAsync(Guard);
        cluster = manager.GetClusterTelemetry();
        (cluster.DeviceCount, cluster.FreshDeviceCount, cluster.TotalMemoryBytes).Should().Be((4, 1, 80 * GiB));
    }
}
