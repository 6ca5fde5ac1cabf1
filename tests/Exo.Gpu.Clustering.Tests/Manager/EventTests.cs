using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

public class EventTests
{
    [Fact]
    public async Task HealthChanged_HotFault_DegradesAtOnceAndRecoversOnlyAfterTheHoldTime()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 2, faults: "hot:1@5s+10s");
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);
        var hot = backend.AllDevices[1];
        var health = new Dictionary<int, GpuHealth>();

        for (var second = 1; second <= 60; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await manager.RefreshTelemetryAsync().WaitAsync(Guard);
            health[second] = manager.GetStatus(hot.Uuid).Health;
            manager.GetStatus(backend.AllDevices[0].Uuid).Health.Should().Be(GpuHealth.Healthy);
        }

        Enumerable.Range(1, 4).Select(s => health[s]).Should().OnlyContain(h => h == GpuHealth.Healthy);
        health[5].Should().BeOneOf(GpuHealth.Degraded, GpuHealth.Unhealthy);

        // The fault ends at 15 s; the device stays out of Healthy for the 30 s hold, then recovers.
        Enumerable.Range(5, 36).Select(s => health[s]).Should().OnlyContain(h => h == GpuHealth.Degraded || h == GpuHealth.Unhealthy);
        health[60].Should().Be(GpuHealth.Healthy);

        var degraded = await events.WaitForAsync<GpuHealthChange>(c => c.Device.Equals(hot));
        (degraded.Previous, degraded.Timestamp).Should().Be((GpuHealth.Healthy, Start + TimeSpan.FromSeconds(5)));
        degraded.Current.Should().BeOneOf(GpuHealth.Degraded, GpuHealth.Unhealthy);
        var recovered = await events.WaitForAsync<GpuHealthChange>(c => c.Device.Equals(hot) && c.Current == GpuHealth.Healthy);
        recovered.Timestamp.Should().BeOnOrAfter(Start + TimeSpan.FromSeconds(44));
    }

    [Fact]
    public async Task DeviceLost_ReportedBothByItsEventStreamAndBySampling_RaisedOnce()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 2, faults: "lost:1@3s", configure: o => o.EnablePoller = true);
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);

        for (var second = 1; second <= 5; second++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await manager.RefreshTelemetryAsync().WaitAsync(Guard);
        }

        (await events.WaitForAsync<ManagerEvents.Lost>()).Args.Device.Should().Be(backend.AllDevices[1]);
        await manager.ShutdownAsync().WaitAsync(Guard);   // drains the event pump
        events.Drain().OfType<ManagerEvents.Lost>().Should().ContainSingle();
    }

    [Fact]
    public async Task Events_AHandlerThrows_LaterHandlersAndLaterEventsStillRun()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var (manager, backend) = await StartSimulatedAsync(time, devices: 2, faults: "lost:1@2s+2s", logs: logs);
        await using var _ = Stop(manager, time);
        manager.HealthChanged += (_, _) => throw new InvalidOperationException("host bug");
        manager.DeviceLost += (_, _) => throw new InvalidOperationException("host bug");
        manager.DeviceAdded += (_, _) => throw new InvalidOperationException("host bug");
        var events = new ManagerEvents(manager);

        time.Advance(TimeSpan.FromSeconds(2));
        await manager.RefreshTelemetryAsync().WaitAsync(Guard);
        (await events.WaitForAsync<ManagerEvents.Lost>()).Args.Device.Should().Be(backend.AllDevices[1]);
        time.Advance(TimeSpan.FromSeconds(2));
        await manager.RefreshTelemetryAsync().WaitAsync(Guard);
        (await manager.RediscoverAsync().WaitAsync(Guard)).Should().Equal(backend.AllDevices[1]);   // the throwing handler does not fail the call

        (await events.WaitForAsync<ManagerEvents.Added>()).Args.Rejoined.Should().BeTrue();
        await events.WaitForAsync<GpuHealthChange>(c => c.Device.Equals(backend.AllDevices[1]) && c.Current == GpuHealth.Healthy);
        events.Seen.OfType<GpuHealthChange>().Should().Contain(c => c.Current == GpuHealth.Lost);
        logs.Collector.GetSnapshot().Where(r => r.Id.Id == HandlerFailedEvent).Select(r => r.Message)
            .Should().Contain(m => m.Contains("DeviceLost")).And.Contain(m => m.Contains("DeviceAdded")).And.Contain(m => m.Contains("HealthChanged"));
    }

    [Fact]
    public async Task HealthChanged_DeviceBecomesUnhealthy_ItsLeasesAreRevoked()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 2);
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);
        var sick = backend.AllDevices[0];
        manager.TryAcquire(new GpuRequest { MemoryBytes = GiB, IncludeUuids = [sick.Uuid] }, out var lease).Should().BeTrue();

        manager.Telemetry.Record(sick.Uuid, Sample(Start, eccUncorrected: 2));

        var change = await events.WaitForAsync<GpuHealthChange>();
        (change.Device, change.Previous, change.Current).Should().Be((sick, GpuHealth.Healthy, GpuHealth.Unhealthy));
        await WhenCanceled(lease.Token).WaitAsync(Guard);
        await lease.DisposeAsync();
        manager.GetLeaseSnapshot().Revoked.Should().Be(1);
    }
}
