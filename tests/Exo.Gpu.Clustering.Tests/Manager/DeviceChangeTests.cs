using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

public class DeviceChangeTests
{
    [Fact]
    public async Task LostAndReturningDevice_LeavesSelectionLosesLeasesThenRejoinsWithFreshHistory()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 4, faults: "lost:2@10s+20s");
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);
        var lost = backend.AllDevices[2];
        var onLost = new GpuRequest { MemoryBytes = 10 * GiB, IncludeUuids = [lost.Uuid] };
        manager.TryAcquire(onLost, out var lease).Should().BeTrue();
        var revoked = WhenCanceled(lease.Token);

        time.Advance(TimeSpan.FromSeconds(10));
        await manager.RefreshTelemetryAsync().WaitAsync(Guard);

        var lostEvent = await events.WaitForAsync<ManagerEvents.Lost>();
        lostEvent.Args.Device.Should().Be(lost);
        lostEvent.Args.Rejoined.Should().BeFalse();
        await revoked.WaitAsync(Guard);
        manager.GetStatus(lost.Uuid).Health.Should().Be(GpuHealth.Lost);
        for (var i = 0; i < 200; i++)
        {
            manager.SelectBest(0).Should().NotBe(lost);
        }

        var verdict = manager.Selector.Explain(new GpuRequest()).Devices.Single(v => v.Device.Equals(lost));
        verdict.Eligible.Should().BeFalse();
        verdict.Reasons.Should().Contain(r => r.Contains("Lost", StringComparison.Ordinal));
        manager.Invoking(m => m.Selector.Select(onLost)).Should().Throw<NoEligibleGpuException>();
        manager.DistributeUniform(30).Devices.Should().NotContain(lost);
        await lease.DisposeAsync();
        manager.GetLeaseSnapshot().Revoked.Should().Be(1);

        // Still inside the loss window: discovery does not list it, nothing rejoins.
        time.Advance(TimeSpan.FromSeconds(10));
        (await manager.RediscoverAsync().WaitAsync(Guard)).Should().BeEmpty();
        manager.GetStatus(lost.Uuid).Health.Should().Be(GpuHealth.Lost);

        time.Advance(TimeSpan.FromSeconds(11));   // 31 s: the window [10 s, 30 s) is over
        await manager.RefreshTelemetryAsync().WaitAsync(Guard);
        var joined = await manager.RediscoverAsync().WaitAsync(Guard);

        joined.Should().Equal(lost);
        var added = await events.WaitForAsync<ManagerEvents.Added>();
        added.Args.Device.Should().Be(lost);
        added.Args.Rejoined.Should().BeTrue();
        manager.Telemetry.GetHistory(lost.Uuid).Select(s => s.Timestamp).Should().Equal(Start + TimeSpan.FromSeconds(31));
        manager.GetStatus(lost.Uuid).Should().Match<GpuDeviceStatus>(s => s.Health == GpuHealth.Healthy && s.IsFresh && s.ConsecutiveFailures == 0);
        manager.Selector.Select(onLost).Should().Be(lost);
        manager.TryAcquire(onLost, out var again).Should().BeTrue();
        again.Token.IsCancellationRequested.Should().BeFalse();
        await again.DisposeAsync();
        manager.Devices.Should().HaveCount(4, "a returning device keeps its slot");

        // The health events tell the same story, in order, for that device: stale once its first reading aged past the
        // staleness limit, lost, back without a reading, healthy with its first one.
        await events.WaitForAsync<GpuHealthChange>(c => c.Device.Equals(lost) && c.Current == GpuHealth.Healthy);
        events.Seen.OfType<GpuHealthChange>().Where(c => c.Device.Equals(lost)).Select(c => c.Current)
            .Should().Equal(GpuHealth.Unknown, GpuHealth.Lost, GpuHealth.Unknown, GpuHealth.Healthy);
    }

    [Fact]
    public async Task RediscoverAsync_DeviceNoLongerListed_MarkedLostAndItsLeasesRevoked()
    {
        // A backend that only stops listing the device (no event says it is lost: the simulated cluster's event would
        // race the rediscovery now that events are applied without the poller).
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 3);
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);
        var gone = backend.AllDevices[1];
        manager.TryAcquire(new GpuRequest { MemoryBytes = GiB, IncludeUuids = [gone.Uuid] }, out var lease).Should().BeTrue();

        backend.Listed = [backend.AllDevices[0], backend.AllDevices[2]];
        (await manager.RediscoverAsync().WaitAsync(Guard)).Should().BeEmpty();

        manager.GetStatus(gone.Uuid).Health.Should().Be(GpuHealth.Lost);
        var lost = await events.WaitForAsync<ManagerEvents.Lost>();
        lost.Args.Device.Should().Be(gone);
        lost.Args.Reason.Should().Contain("no longer discovered");
        await WhenCanceled(lease.Token).WaitAsync(Guard);
        await lease.DisposeAsync();
        manager.Devices.Should().HaveCount(3, "a lost device stays known");
    }

    [Fact]
    public async Task RediscoverAsync_NewDevice_JoinsAndIsSelectable()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 3);
        backend.Listed = [backend.AllDevices[0], backend.AllDevices[1]];
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);
        backend.Listed = backend.AllDevices;

        var joined = await manager.RediscoverAsync().WaitAsync(Guard);

        joined.Should().Equal(backend.AllDevices[2]);
        var added = await events.WaitForAsync<ManagerEvents.Added>();
        (added.Args.Device, added.Args.Rejoined).Should().Be((backend.AllDevices[2], false));
        manager.Devices.Should().Equal(backend.AllDevices);
        manager.Selector.Select(new GpuRequest { IncludeUuids = [backend.AllDevices[2].Uuid] }).Should().Be(backend.AllDevices[2]);
        (await manager.RediscoverAsync().WaitAsync(Guard)).Should().BeEmpty("a device already present does not join twice");
    }

    [Fact]
    public async Task RediscoverAsync_DeviceExcludedAtStart_JoinsOnceItsReadingWorks()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var flaky = backend.AllDevices[1];
        backend.OnSample = (d, _) => d.Equals(flaky) ? throw new GpuSamplingException("not yet") : new ValueTask<GpuSample>(backend.HealthySample());
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        manager.Devices.Should().Equal(backend.AllDevices[0]);

        (await manager.RediscoverAsync().WaitAsync(Guard)).Should().BeEmpty("its reading still fails");
        backend.OnSample = null;
        (await manager.RediscoverAsync().WaitAsync(Guard)).Should().Equal(flaky);
        manager.GetStatus(flaky.Uuid).IsFresh.Should().BeTrue();
    }

    [Fact]
    public async Task RediscoverAsync_OneOfTwoBackendsFailsDiscovery_ItsDevicesAreNotMarkedLost()
    {
        var time = new FakeTimeProvider(Start);
        var logs = new FakeLoggerFactory();
        var steady = new FakeGpuBackend(time, 2, "steady");
        var flaky = new FakeGpuBackend(time, 2, "flaky");
        var manager = await Options(time, logs, steady, flaky).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        manager.TryAcquire(new GpuRequest { MemoryBytes = GiB, IncludeUuids = [flaky.AllDevices[0].Uuid] }, out var lease).Should().BeTrue();
        flaky.OnDiscover = _ => throw new GpuBackendUnavailableException("transient");

        (await manager.RediscoverAsync().WaitAsync(Guard)).Should().BeEmpty();

        manager.GetStatuses().Should().OnlyContain(s => s.Health == GpuHealth.Healthy, "a failed discovery says nothing about its devices");
        lease.Token.IsCancellationRequested.Should().BeFalse();
        Logged(logs, BackendDiscoveryFailedEvent).Should().Be(1);

        // A device the working backend stops listing is still marked lost.
        steady.Listed = [steady.AllDevices[0]];
        await manager.RediscoverAsync().WaitAsync(Guard);
        manager.GetStatus(steady.AllDevices[1].Uuid).Health.Should().Be(GpuHealth.Lost);
        manager.GetStatus(flaky.AllDevices[0].Uuid).Health.Should().Be(GpuHealth.Healthy);
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task RediscoverAsync_DiscoveryFails_ThrowsAndChangesNothing()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        backend.OnDiscover = _ => throw new GpuBackendUnavailableException("driver reloading");

        await FluentActions.Awaiting(() => manager.RediscoverAsync().WaitAsync(Guard)).Should().ThrowAsync<GpuBackendUnavailableException>();

        manager.GetStatuses().Should().OnlyContain(s => s.Health == GpuHealth.Healthy);
    }

    [Fact]
    public async Task PeriodicRediscovery_DeviceReturns_RejoinsWithoutAHostCall()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 2, faults: "lost:0@3s+4s", configure: o => o.RediscoveryInterval = TimeSpan.FromSeconds(5));
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);

        time.Advance(TimeSpan.FromSeconds(5));   // first rediscovery: device 0 is not listed
        (await events.WaitForAsync<ManagerEvents.Lost>()).Args.Device.Should().Be(backend.AllDevices[0]);
        time.Advance(TimeSpan.FromSeconds(5));   // second, at 10 s: listed again
        var added = await events.WaitForAsync<ManagerEvents.Added>();

        (added.Args.Device, added.Args.Rejoined).Should().Be((backend.AllDevices[0], true));
        manager.Telemetry.GetHistory(backend.AllDevices[0].Uuid).Select(s => s.Timestamp).Should().Equal(Start + TimeSpan.FromSeconds(10));
    }
}
