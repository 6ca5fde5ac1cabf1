using System.Diagnostics;
using Orleans.TestingHost;
using static Exo.Gpu.Clustering.Orleans.Tests.Cluster.ClusterFixture;

namespace Exo.Gpu.Clustering.Orleans.Tests.Cluster;

/// <summary>Gangs that lose a host after commit: released by default, kept and re-formed when elastic.</summary>
[Collection(ClusterTestGroup.Name)]
public sealed class ElasticGangTests(ClusterFixture fixture)
{
    private static readonly string[] Hosts = ["Silo_0", "Silo_1", "Silo_2"];

    [Fact]
    public async Task Gang_NotElasticHostKilledAfterCommit_TokenFiresAndSurvivorsReleased()
    {
        var (silo, victim) = await StartVictimAsync("A-gone-");
        try
        {
            await using var pool = fixture.NewPool();
            var lease = await pool.AcquireAsync(Spread4("plain-"));
            lease.Parts.Select(p => p.Host.HostId).Should().BeEquivalentTo([victim, .. Hosts]);

            await fixture.KillAsync(silo);
            await FiredAsync(lease).WaitAsync(Guard);

            lease.LostParts.Should().ContainSingle().Which.Host.HostId.Should().Be(victim);
            foreach (var host in Hosts)
            {
                await WaitUntilAsync(async () => (await fixture.ReportOf(host)).ActiveLeases == 0, $"{host} released its surviving part");
            }

            await pool.Invoking(p => p.ReacquireAsync(lease)).Should().ThrowAsync<InvalidOperationException>().WithMessage("*not elastic*");
        }
        finally
        {
            await DroppedAsync(victim);
        }
    }

    [Fact]
    public async Task Gang_ElasticHostKilled_SurvivorsKeptPastTheirTtlAndReacquireReplacesOnlyTheLostDevice()
    {
        var (silo, victim) = await StartVictimAsync("A-elastic-");
        try
        {
            await using var pool = fixture.NewPool();
            var lease = await pool.AcquireAsync(Spread4("elastic-", elastic: true));
            var survivors = lease.Parts.Where(p => p.Host.HostId != victim).ToList();
            survivors.Select(p => p.Host.HostId).Should().BeEquivalentTo(Hosts);
            var before = await Task.WhenAll(Hosts.Select(fixture.ReportOf));

            await fixture.KillAsync(silo);
            await FiredAsync(lease).WaitAsync(Guard);

            lease.LostParts.Should().ContainSingle().Which.Host.HostId.Should().Be(victim);
            lease.RevocationReason.Should().Contain(victim);

            // The pool keeps renewing the survivors: for longer than their TTL none expires, each stays held.
            var window = Stopwatch.StartNew();
            while (window.Elapsed < PoolOptions().LeaseTtl + TimeSpan.FromSeconds(1))
            {
                var now = await Task.WhenAll(Hosts.Select(fixture.ReportOf));
                now.Select(r => (r.ActiveLeases, r.Expired)).Should().Equal(before.Select(r => (1, r.Expired)), "survivors stay held while the lease waits to be re-formed");
                await Task.Delay(200);
            }

            var next = await pool.ReacquireAsync(lease);

            next.Should().NotBeSameAs(lease);
            next.RequestId.Should().Be(lease.RequestId);
            next.Parts.Should().HaveCount(4);
            next.Parts.Take(3).Should().Equal(survivors, "the survivors are kept as they were: same devices, same fences");
            var replacement = next.Parts[3];
            replacement.DeviceUuids.Should().ContainSingle();
            replacement.Host.HostId.Should().BeOneOf(Hosts, "Spread may put the replacement beside a survivor");
            replacement.RequestId.Should().Be(lease.RequestId + "\u001F1");
            next.LostParts.Should().BeEmpty();
            next.Token.IsCancellationRequested.Should().BeFalse();
            (await pool.ReacquireAsync(lease)).Should().BeSameAs(next, "a retry returns the same re-formed lease");
            (await pool.ReacquireAsync(next)).Should().BeSameAs(next, "nothing lost: the lease as it is");
            lease.IsReleased.Should().BeTrue();
            (await lease.ReleaseAsync()).Should().Be(ClusterReleaseResult.AlreadyReleased, "the old lease hands its parts over, it releases nothing");
            (await fixture.ReportOf(replacement.Host.HostId)).ActiveLeases.Should().Be(2);

            (await next.ReleaseAsync()).Should().Be(ClusterReleaseResult.Released);
            foreach (var host in Hosts)
            {
                (await fixture.ReportOf(host)).ActiveLeases.Should().Be(0, $"{host}: survivor and replacement released");
            }
        }
        finally
        {
            await DroppedAsync(victim);
        }
    }

    [Fact]
    public async Task Gang_ElasticStrictSpreadHostKilled_ReplacementOnlyOnAHostWithoutASurvivor()
    {
        var (silo, victim) = await StartVictimAsync("A-strict-");
        InProcessSiloHandle? spare = null;
        var spareId = "Z-spare-" + Guid.NewGuid().ToString("N")[..6];
        try
        {
            await using var pool = fixture.NewPool();
            var lease = await pool.AcquireAsync(Spread4("strict-", elastic: true, GangPlacement.StrictSpread));
            await fixture.KillAsync(silo);
            await FiredAsync(lease).WaitAsync(Guard);

            // Every survivor's host still has a free device; StrictSpread must not use it.
            var refused = () => pool.ReacquireAsync(lease);
            await refused.Should().ThrowAsync<ClusterCapacityException>();
            spare = await fixture.StartHostAsync(spareId);
            var next = await pool.ReacquireAsync(lease);

            next.Parts.Select(p => p.Host.HostId).Should().BeEquivalentTo([.. Hosts, spareId]);
            await next.ReleaseAsync();
        }
        finally
        {
            await DroppedAsync(victim);
            if (spare is not null)
            {
                await fixture.KillAsync(spare);
                await DroppedAsync(spareId);
            }
        }
    }

    [Fact]
    public async Task Gang_ElasticReacquire_NeverPutsAReplacementOnASurvivorsDevice()
    {
        var (silo, victim) = await StartVictimAsync("A-device-");
        var fillers = new List<ClusterLease>();
        await using var pool = fixture.NewPool();
        try
        {
            var lease = await pool.AcquireAsync(Spread4("distinct-", elastic: true));
            var survivorDevices = lease.Parts.Where(p => p.Host.HostId != victim).SelectMany(p => p.DeviceUuids).ToList();

            // 70 GiB fits only on a device with nothing on it: the four left (one per shared host, one on the victim).
            for (var i = 0; i < 4; i++)
            {
                fillers.Add(await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "filler-" + Guid.NewGuid(), MemoryBytes = 70 * GiB }));
            }

            fillers.SelectMany(f => f.Parts).SelectMany(p => p.DeviceUuids).Should().NotIntersectWith(survivorDevices);
            await fixture.KillAsync(silo);
            await FiredAsync(lease).WaitAsync(Guard);

            // Only the survivors' own devices have 20 GiB free now: a gang never takes one device twice.
            await pool.Invoking(p => p.ReacquireAsync(lease)).Should().ThrowAsync<ClusterCapacityException>();
            var freed = fillers.First(f => f.Parts[0].Host.HostId != victim);
            await freed.ReleaseAsync();
            var next = await pool.ReacquireAsync(lease);

            next.Parts[^1].DeviceUuids.Should().Equal(freed.Parts[0].DeviceUuids);
            next.Parts.SelectMany(p => p.DeviceUuids).Should().OnlyHaveUniqueItems();
            await next.ReleaseAsync();
        }
        finally
        {
            foreach (var filler in fillers)
            {
                await filler.ReleaseAsync();
            }

            await DroppedAsync(victim);
        }
    }

    [Fact]
    public async Task Acquire_RequestIdWithTheRoundSeparator_Refused()
    {
        await using var pool = fixture.NewPool();

        var act = () => pool.AcquireAsync(new ClusterGpuRequest { RequestId = "job\u001F1", MemoryBytes = GiB });

        await act.Should().ThrowAsync<ArgumentException>().WithMessage("*U+001F*");
    }

    [Fact]
    public async Task Reacquire_LeaseOfAnotherPool_Refused()
    {
        await using var holder = fixture.NewPool();
        await using var other = fixture.NewPool();
        var lease = await holder.AcquireAsync(new ClusterGpuRequest { RequestId = "foreign-" + Guid.NewGuid(), MemoryBytes = GiB, Elastic = true });

        await other.Invoking(p => p.ReacquireAsync(lease)).Should().ThrowAsync<InvalidOperationException>().WithMessage("*not held by this pool*");
        (await holder.ReacquireAsync(lease)).Should().BeSameAs(lease);
        await lease.ReleaseAsync();
        await holder.Invoking(p => p.ReacquireAsync(lease)).Should().ThrowAsync<InvalidOperationException>();
    }

    /// <summary>Four devices spread over four hosts: one on each of the three shared hosts and one on the victim.</summary>
    private static ClusterGpuRequest Spread4(string prefix, bool elastic = false, GangPlacement placement = GangPlacement.Spread) => new()
    {
        RequestId = prefix + Guid.NewGuid(),
        MemoryBytes = 20 * GiB,
        DeviceCount = 4,
        Placement = placement,
        Elastic = elastic,
    };

    private async Task<(InProcessSiloHandle Silo, string Id)> StartVictimAsync(string prefix)
    {
        var id = prefix + Guid.NewGuid().ToString("N")[..6];
        return (await fixture.StartHostAsync(id), id);
    }

    /// <summary>The shared cluster's other tests expect its three hosts only: wait until the directory drops this one.</summary>
    private Task DroppedAsync(string hostId) =>
        WaitUntilAsync(async () => (await fixture.View()).Hosts.All(h => h.Host.HostId != hostId), $"the directory drops {hostId}");
}
