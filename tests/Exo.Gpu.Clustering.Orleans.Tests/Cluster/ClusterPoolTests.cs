using System.Diagnostics;
using Exo.Gpu.Clustering.Orleans.Hosts;
using Exo.Gpu.Clustering.Orleans.Pool;
using static Exo.Gpu.Clustering.Orleans.Tests.Cluster.ClusterFixture;

namespace Exo.Gpu.Clustering.Orleans.Tests.Cluster;

/// <summary>Cluster leases on a real in-process Orleans cluster of simulated GPU hosts.</summary>
[Collection(ClusterTestGroup.Name)]
public sealed class ClusterPoolTests(ClusterFixture fixture)
{
    private static readonly string[] Hosts = ["Silo_0", "Silo_1", "Silo_2"];

    [Fact]
    public async Task View_ThreeHostSilos_EachReportsItsOwnDevicesFromItsOwnSilo()
    {
        var view = await fixture.View();

        view.Hosts.Select(h => h.Host.HostId).Should().Contain(Hosts);
        foreach (var silo in fixture.Cluster.Silos.Where(s => Hosts.Contains(s.Name)))
        {
            var report = view.Hosts.Single(h => h.Host.HostId == silo.Name);
            report.Silo.Should().Be(silo.SiloAddress.ToParsableString());
            report.Host.Generation.Should().Be(silo.SiloAddress.Generation);
            report.Devices.Should().HaveCount(2).And.OnlyContain(d => d.CapacityBytes > 70 * GiB);
        }

        view.Hosts.SelectMany(h => h.Devices).Select(d => d.Uuid).Should().OnlyHaveUniqueItems("each host has its own seed");
    }

    [Fact]
    public async Task HostGrain_Key_PlacedOnlyOnTheSiloNamedForIt()
    {
        foreach (var silo in fixture.Cluster.Silos.Where(s => Hosts.Contains(s.Name)))
        {
            (await fixture.ReportOf(silo.Name)).Silo.Should().Be(silo.SiloAddress.ToParsableString());
        }

        var act = () => fixture.ReportOf("no-such-host");
        (await act.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("No active silo is GPU host 'no-such-host'");
    }

    [Fact]
    public async Task Acquire_SameRequestIdTwiceAtOnce_OneLease()
    {
        await using var pool = fixture.NewPool();
        var request = new ClusterGpuRequest { RequestId = "twice-" + Guid.NewGuid(), MemoryBytes = 10 * GiB };

        var both = await Task.WhenAll(pool.AcquireAsync(request), pool.AcquireAsync(request));

        both[0].Should().BeSameAs(both[1]);
        var part = both[0].Parts.Should().ContainSingle().Subject;
        (await fixture.ReportOf(part.Host.HostId)).Devices.Sum(d => d.ActiveLeases).Should().Be(1);
        (await both[0].ReleaseAsync()).Should().Be(ClusterReleaseResult.Released);
    }

    [Fact]
    public async Task Release_TwiceUnknownAndReacquire_IdempotentAndFinal()
    {
        await using var pool = fixture.NewPool();
        var id = "final-" + Guid.NewGuid();
        var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = id, MemoryBytes = GiB });

        (await lease.ReleaseAsync()).Should().Be(ClusterReleaseResult.Released);
        (await lease.ReleaseAsync()).Should().Be(ClusterReleaseResult.AlreadyReleased);
        (await pool.ReleaseAsync(id)).Should().Be(ClusterReleaseResult.AlreadyReleased);
        (await pool.ReleaseAsync("never-" + Guid.NewGuid())).Should().Be(ClusterReleaseResult.Unknown);
        await pool.Invoking(p => p.AcquireAsync(new ClusterGpuRequest { RequestId = id, MemoryBytes = GiB })).Should().ThrowAsync<InvalidOperationException>().WithMessage("*final*");
        lease.Token.IsCancellationRequested.Should().BeFalse("a released lease's token never fires");
    }

    [Fact]
    public async Task Release_FromAnotherPool_ReleasedOnTheHostThatHoldsIt()
    {
        await using var holder = fixture.NewPool();
        await using var other = fixture.NewPool();
        var id = "elsewhere-" + Guid.NewGuid();
        var lease = await holder.AcquireAsync(new ClusterGpuRequest { RequestId = id, MemoryBytes = GiB });

        (await other.ReleaseAsync(id)).Should().Be(ClusterReleaseResult.Released);

        (await fixture.ReportOf(lease.Parts[0].Host.HostId)).ActiveLeases.Should().Be(0);
    }

    [Fact]
    public async Task Reserve_RetriedOnTheHost_SameGrantAndFence()
    {
        var host = fixture.Client.GetGrain<IGpuHostGrain>("Silo_1");
        var id = "retry-" + Guid.NewGuid();

        var first = await host.ReserveAsync(id, GiB, 1, false, TimeSpan.FromSeconds(5), prepare: false);
        var retry = await host.ReserveAsync(id, GiB, 1, false, TimeSpan.FromSeconds(5), prepare: false);

        first.Grant.Should().NotBeNull();
        retry.Existing.Should().BeTrue();
        retry.Grant!.Fence.Should().Be(first.Grant!.Fence);
        retry.Report.Should().BeNull("a grant carries no report");
        (await host.GetReportAsync()).ActiveLeases.Should().Be(1);
        (await host.ReleaseAsync(id)).Should().Be(ClusterReleaseResult.Released);
    }

    [Fact]
    public async Task Acquire_TooBigForAnyHost_CapacityExceptionAfterBoundedRounds()
    {
        var options = PoolOptions();
        options.MaxAttempts = 2;
        await using var pool = Client(options);

        var act = () => pool.AcquireAsync(new ClusterGpuRequest { RequestId = "huge-" + Guid.NewGuid(), MemoryBytes = 500 * GiB });

        var thrown = (await act.Should().ThrowAsync<ClusterCapacityException>()).Which;
        thrown.Attempts.Should().Be(2);
        thrown.Message.Should().Contain("none can hold 1 x 500 GiB");
        pool.TrackedRequests.Should().Be(0, "a failed acquire holds nothing and is forgotten");
    }

    [Fact]
    public async Task Gang_StrictSpread_OneDeviceOnEachOfThreeHosts()
    {
        await using var pool = fixture.NewPool();

        var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "spread-" + Guid.NewGuid(), MemoryBytes = 20 * GiB, DeviceCount = 3, Placement = GangPlacement.StrictSpread });

        lease.Parts.Select(p => p.Host.HostId).Should().BeEquivalentTo(Hosts);
        lease.Parts.Should().OnlyContain(p => p.DeviceUuids.Count == 1);
        await lease.ReleaseAsync();
        foreach (var host in Hosts)
        {
            (await fixture.ReportOf(host)).ActiveLeases.Should().Be(0);
        }
    }

    [Fact]
    public async Task Gang_StrictPackThenPackOnAStaleView_OneHostEachTheRefusalMovesOn()
    {
        await using var pool = fixture.NewPool();

        // 50 GiB per device: a host holds one such pair. The second acquire plans on a view that may not show the
        // first yet; the host refuses with a fresh report and the pool moves on.
        var strict = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "pack-" + Guid.NewGuid(), MemoryBytes = 50 * GiB, DeviceCount = 2, Placement = GangPlacement.StrictPack });
        var packed = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "pack-" + Guid.NewGuid(), MemoryBytes = 50 * GiB, DeviceCount = 2 });

        strict.Parts.Should().ContainSingle().Which.DeviceUuids.Should().HaveCount(2);
        packed.Parts.Should().ContainSingle().Which.DeviceUuids.Should().HaveCount(2);
        packed.Parts[0].Host.Should().NotBe(strict.Parts[0].Host);
        await strict.ReleaseAsync();
        await packed.ReleaseAsync();
    }

    [Fact]
    public async Task Gang_TooBigForStrictPack_NothingLeftPreparedOnAnyHost()
    {
        var options = PoolOptions();
        options.MaxAttempts = 2;
        await using var pool = Client(options);

        var act = () => pool.AcquireAsync(new ClusterGpuRequest { RequestId = "strict-" + Guid.NewGuid(), MemoryBytes = GiB, DeviceCount = 3, Placement = GangPlacement.StrictPack });

        await act.Should().ThrowAsync<ClusterCapacityException>();
        foreach (var host in Hosts)
        {
            (await fixture.ReportOf(host)).ActiveLeases.Should().Be(0);
        }
    }

    [Fact]
    public async Task CoordinatorDies_BetweenPrepareAndCommit_PreparedPartsExpire()
    {
        var id = "orphan-" + Guid.NewGuid();
        var before = await Task.WhenAll(Hosts.Take(2).Select(fixture.ReportOf));
        foreach (var host in Hosts.Take(2))
        {
            var prepared = await fixture.Client.GetGrain<IGpuHostGrain>(host).ReserveAsync(id, GiB, 1, false, TimeSpan.FromMilliseconds(300), prepare: true);
            prepared.Grant.Should().NotBeNull();
        }

        // The coordinator is gone: nobody commits, aborts or renews.
        foreach (var (host, was) in Hosts.Take(2).Zip(before))
        {
            await WaitUntilAsync(async () => (await fixture.ReportOf(host)) is { ActiveLeases: 0 } r && r.Expired == was.Expired + 1, $"{host} expired the prepared part");
        }
    }

    [Fact]
    public async Task HostKilled_HoldersTokenFiresWithinThreeSeconds()
    {
        var victim = "A-victim-" + Guid.NewGuid().ToString("N")[..6]; // sorts first: best fit picks it on a tie
        var silo = await fixture.StartHostAsync(victim);
        var options = PoolOptions();
        options.LeaseTtl = TimeSpan.FromSeconds(20);
        options.HolderDeadline = TimeSpan.FromSeconds(15); // far beyond 3 s: only the departure watch can fire in time
        await using var pool = Client(options);
        var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "victim-" + Guid.NewGuid(), MemoryBytes = 70 * GiB, DeviceCount = 2, Placement = GangPlacement.StrictPack });
        lease.Parts.Single().Host.HostId.Should().Be(victim);
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Token.Register(() => fired.TrySetResult());

        var clock = Stopwatch.StartNew();
        await fixture.KillAsync(silo);
        await fired.Task.WaitAsync(Guard);

        clock.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(3));
        lease.RevocationReason.Should().Contain(victim);
        (await lease.ReleaseAsync()).Should().Be(ClusterReleaseResult.AlreadyReleased);
        await WaitUntilAsync(async () => (await fixture.View()).Hosts.All(h => h.Host.HostId != victim), "the directory drops the killed host");
        (await fixture.View()).Departed.Should().Contain(lease.Parts[0].Host);
    }

    [Fact]
    public async Task DeviceFails_OnTheLeasesHost_HostRevokesAndTheHoldersTokenFires()
    {
        // Device 0 of this host reports an uncorrectable ECC error 8 s after its backend starts: it turns Unhealthy.
        var faulty = "A-faulty-" + Guid.NewGuid().ToString("N")[..6]; // sorts first: best fit picks it on a tie
        var silo = await fixture.StartHostAsync(faulty, faults: "ecc:0@8s");
        try
        {
            await using var pool = fixture.NewPool();
            var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "ecc-" + Guid.NewGuid(), MemoryBytes = 70 * GiB, DeviceCount = 2, Placement = GangPlacement.StrictPack });
            lease.Parts.Single().Host.HostId.Should().Be(faulty, "the host started well within the 8 s before its fault");

            await FiredAsync(lease).WaitAsync(Guard);

            lease.RevocationReason.Should().Be($"host '{faulty}' says the lease is Revoked");
            lease.LostParts.Should().Equal(lease.Parts);
            var report = await fixture.ReportOf(faulty);
            (report.Revoked, report.ActiveLeases).Should().Be((1L, 0));
        }
        finally
        {
            await fixture.KillAsync(silo);
            await WaitUntilAsync(async () => (await fixture.View()).Hosts.All(h => h.Host.HostId != faulty), "the directory drops the faulty host");
        }
    }

    [Fact]
    public async Task Gang_HostDiesBetweenPrepareAndCommit_AllOrNothing()
    {
        var victim = "A-gang-" + Guid.NewGuid().ToString("N")[..6];
        var silo = await fixture.StartHostAsync(victim);
        var options = PoolOptions();
        options.MaxAttempts = 1;
        var pool = new ClusterGpuPool(fixture.Client, options);
        await using var _ = pool;
        pool.BetweenPhases = _ => fixture.KillAsync(silo);

        var act = () => pool.AcquireAsync(new ClusterGpuRequest { RequestId = "gang-" + Guid.NewGuid(), MemoryBytes = GiB, DeviceCount = 4, Placement = GangPlacement.StrictSpread });

        await act.Should().ThrowAsync<ClusterCapacityException>();
        foreach (var host in Hosts)
        {
            (await fixture.ReportOf(host)).ActiveLeases.Should().Be(0, $"{host} keeps no part of a gang that was not committed everywhere");
        }
    }

    [Fact]
    public async Task Gang_FailureBetweenPrepareAndCommit_AbortsEveryPreparedPartAtOnce()
    {
        var pool = new ClusterGpuPool(fixture.Client, PoolOptions());
        await using var _ = pool;
        pool.BetweenPhases = _ => throw new InvalidOperationException("the coordinator failed between the phases");

        var act = () => pool.AcquireAsync(new ClusterGpuRequest { RequestId = "broken-" + Guid.NewGuid(), MemoryBytes = GiB, DeviceCount = 3, Placement = GangPlacement.StrictSpread });

        await act.Should().ThrowAsync<InvalidOperationException>().WithMessage("the coordinator failed*");
        foreach (var host in Hosts)
        {
            var report = await fixture.ReportOf(host);
            report.ActiveLeases.Should().Be(0, $"{host}: aborted at once, not left to expire");
        }
    }

    [Fact]
    public async Task HostRestarted_SameHostId_NewGenerationAndTheOldOneDeparted()
    {
        var id = "R-" + Guid.NewGuid().ToString("N")[..6];
        var first = await fixture.StartHostAsync(id);
        var old = (await fixture.View()).Hosts.Single(h => h.Host.HostId == id).Host;
        await fixture.Cluster.StopSiloAsync(first);

        var second = await fixture.StartHostAsync(id); // the id is free again once its silo is dead
        try
        {
            var view = await fixture.View();
            var now = view.Hosts.Single(h => h.Host.HostId == id).Host;
            now.Generation.Should().NotBe(old.Generation);
            view.Departed.Should().Contain(old);
            (await fixture.ReportOf(id)).Host.Should().Be(now);
        }
        finally
        {
            await fixture.KillAsync(second); // the shared cluster's other tests expect its three hosts only
            await ClusterFixture.WaitUntilAsync(async () => (await fixture.View()).Hosts.All(h => h.Host.HostId != id), "the directory drops the restarted host");
        }
    }

    [Fact]
    public async Task SecondSilo_ClaimingAnExistingHostId_RefusedAtStart()
    {
        var before = await fixture.ReportOf("Silo_2");

        var act = () => fixture.StartHostAsync("Silo_2");

        (await act.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("already claimed");
        var after = await fixture.ReportOf("Silo_2");
        after.Silo.Should().Be(before.Silo);
        after.Host.Should().Be(before.Host);
    }

    private ClusterGpuPool Client(ClusterGpuPoolOptions options) => new(fixture.Client, options);
}
