using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Orleans.Hosts;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Orleans.Tests.Hosts;

/// <summary>The authoritative lease table of one host, over a real manager on a simulated cluster and a fake clock.</summary>
public sealed class HostLeaseTableTests : IAsyncLifetime
{
    private const long GiB = 1L << 30;
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(10);
    private static readonly GpuHostIdentity Host = new("h1", 42);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private GpuClusteringManager _manager = null!;
    private HostLeaseTable _table = null!;

    public async Task InitializeAsync()
    {
        _manager = await StartAsync(_time, devices: 2, faults: "");
        _table = new HostLeaseTable(Host, _manager.TryAcquire, _time, TimeSpan.FromMinutes(1), retention: 4);
    }

    public async Task DisposeAsync() => await _manager.DisposeAsync();

    internal static async Task<GpuClusteringManager> StartAsync(FakeTimeProvider time, int devices, string faults)
    {
        var options = new GpuClusteringOptions
        {
            EnablePoller = false,
            RediscoveryInterval = null,
            Telemetry = new TelemetryOptions { StalenessLimit = TimeSpan.FromHours(1) },
        };
        var services = new GpuClusteringServices { TimeProvider = time };
        services.Backends.Add(new SimulatedGpuBackend(SimulatedClusterProfile.Homogeneous(devices), SimulatedFaultPlan.Parse(faults), seed: 3, time));
        var manager = new GpuClusteringManager(options, services);
        await manager.StartAsync(CancellationToken.None);
        await manager.RefreshTelemetryAsync();
        return manager;
    }

    [Fact]
    public void Reserve_SameRequestIdTwice_ReturnsTheSameGrant()
    {
        var first = _table.Reserve("r1", 10 * GiB, 1, false, Ttl, prepare: false);
        var second = _table.Reserve("r1", 10 * GiB, 1, false, Ttl, prepare: false);

        first.Grant.Should().NotBeNull();
        first.Existing.Should().BeFalse();
        second.Existing.Should().BeTrue();
        second.Grant.Should().BeSameAs(first.Grant);
        _table.Counters().Granted.Should().Be(1);
        _manager.GetLeaseSnapshot().ActiveLeases.Should().Be(1);
    }

    [Fact]
    public void Reserve_SameIdDifferentShape_RefusedAndNothingGranted()
    {
        _table.Reserve("r1", 10 * GiB, 1, false, Ttl, false).Grant.Should().NotBeNull();

        var other = _table.Reserve("r1", 20 * GiB, 1, false, Ttl, false);

        other.Grant.Should().BeNull();
        other.Refusal.Should().Contain("different lease");
        _manager.GetLeaseSnapshot().ActiveLeases.Should().Be(1);
    }

    [Fact]
    public void Reserve_Grants_FencesIncreaseAndCarryTheGeneration()
    {
        var a = _table.Reserve("a", GiB, 1, false, Ttl, false).Grant!;
        var b = _table.Reserve("b", GiB, 1, false, Ttl, false).Grant!;

        a.Fence.Should().Be(new GpuFencingToken(42, 1));
        b.Fence.Should().Be(new GpuFencingToken(42, 2));
        (b.Fence > a.Fence).Should().BeTrue();
        a.Host.Should().Be(Host);
    }

    [Fact]
    public void Release_TwiceThenUnknown_ReleasedAlreadyReleasedUnknown()
    {
        _table.Reserve("r1", GiB, 1, false, Ttl, false);

        _table.Release("r1").Should().Be(ClusterReleaseResult.Released);
        _table.Release("r1").Should().Be(ClusterReleaseResult.AlreadyReleased);
        _table.Release("never").Should().Be(ClusterReleaseResult.Unknown);
        _manager.GetLeaseSnapshot().ActiveLeases.Should().Be(0);
        _table.Counters().Should().Be((1L, 1L, 0L, 0L, 0));
    }

    [Fact]
    public void Reserve_AfterRelease_RefusedBecauseTheIdIsFinal()
    {
        _table.Reserve("r1", GiB, 1, false, Ttl, false);
        _table.Release("r1");

        var again = _table.Reserve("r1", GiB, 1, false, Ttl, false);

        again.Grant.Should().BeNull();
        again.Refusal.Should().Contain("already ended").And.Contain("final");
        _table.Counters().Granted.Should().Be(1);
    }

    [Fact]
    public void ExpireDue_NoRenewWithinTtl_ExpiresAndFreesTheDevice()
    {
        _table.Reserve("r1", GiB, 1, false, Ttl, false);
        _time.Advance(Ttl - TimeSpan.FromMilliseconds(1));
        _table.ExpireDue().Should().Be(0);

        _time.Advance(TimeSpan.FromMilliseconds(1));

        _table.ExpireDue().Should().Be(1);
        _table.Renew("r1", Ttl).Should().Be(HostLeaseStatus.Expired);
        _table.Release("r1").Should().Be(ClusterReleaseResult.AlreadyReleased);
        _manager.GetLeaseSnapshot().ActiveLeases.Should().Be(0);
        _table.Counters().Should().Be((1L, 0L, 0L, 1L, 0));
    }

    [Fact]
    public void Renew_BeforeEachTtl_KeepsTheLeasePastManyTtls()
    {
        _table.Reserve("r1", GiB, 1, false, Ttl, false);
        for (var i = 0; i < 5; i++)
        {
            _time.Advance(Ttl / 2);
            _table.Renew("r1", Ttl).Should().Be(HostLeaseStatus.Held);
            _table.ExpireDue().Should().Be(0);
        }

        _table.Find("r1").Should().NotBeNull();
    }

    [Fact]
    public void Renew_WallClockJumpsAnHour_ExpiryFollowsTheMonotonicClock()
    {
        var time = new JumpingTime(_time);
        var table = new HostLeaseTable(Host, _manager.TryAcquire, time, TimeSpan.FromMinutes(1), 4);
        table.Reserve("r1", GiB, 1, false, Ttl, false);

        time.WallOffset = TimeSpan.FromHours(1);

        table.ExpireDue().Should().Be(0);
        table.Release("r1").Should().Be(ClusterReleaseResult.Released);
    }

    [Fact]
    public void Prepared_NotCommitted_ExpiresAtItsShortTtlEvenWhenRenewed()
    {
        var prepareTtl = TimeSpan.FromSeconds(2);
        _table.Reserve("g", GiB, 1, false, prepareTtl, prepare: true);
        _time.Advance(TimeSpan.FromSeconds(1));
        _table.Renew("g", Ttl).Should().Be(HostLeaseStatus.Held); // a renew does not commit

        _time.Advance(TimeSpan.FromSeconds(1));

        _table.ExpireDue().Should().Be(1);
        _table.Commit("g", Ttl).Should().Be(HostLeaseStatus.Expired);
    }

    [Fact]
    public void Commit_PreparedPart_TakesTheLeaseTtl()
    {
        _table.Reserve("g", GiB, 1, false, TimeSpan.FromSeconds(2), prepare: true);

        _table.Commit("g", Ttl).Should().Be(HostLeaseStatus.Held);
        _time.Advance(TimeSpan.FromSeconds(5));

        _table.ExpireDue().Should().Be(0);
    }

    [Fact]
    public void Abort_PreparedPart_FreesItAndTheIdMayBePreparedAgain()
    {
        _table.Reserve("g", GiB, 1, false, Ttl, prepare: true);

        _table.Abort("g").Should().BeTrue();
        _table.Abort("g").Should().BeFalse();

        _manager.GetLeaseSnapshot().ActiveLeases.Should().Be(0);
        _table.Reserve("g", GiB, 1, false, Ttl, prepare: true).Grant.Should().NotBeNull();
        _table.Counters().Should().Be((2L, 1L, 0L, 0L, 1));
    }

    [Fact]
    public void RevokeAll_HostStopping_RevokesEveryLeaseAndRefusesNewOnes()
    {
        _table.Reserve("a", GiB, 1, false, Ttl, false);
        _table.Reserve("b", GiB, 2, false, Ttl, false);

        _table.RevokeAll("stopping").Should().Be(2);

        _table.Renew("a", Ttl).Should().Be(HostLeaseStatus.Revoked);
        var refused = _table.Reserve("c", GiB, 1, false, Ttl, false);
        refused.Grant.Should().BeNull();
        refused.Refusal.Should().Contain("stopping");
        _table.Counters().Should().Be((2L, 0L, 2L, 0L, 0));
    }

    [Fact]
    public void RevokeIsolated_CutLongerThanSomeTtls_RevokesOnlyThoseAndKeepsGranting()
    {
        _table.Reserve("short", GiB, 1, false, TimeSpan.FromSeconds(5), false);
        _table.Reserve("long", GiB, 1, false, TimeSpan.FromSeconds(30), false);
        _table.Reserve("renewed-short", GiB, 1, false, TimeSpan.FromSeconds(30), false);
        _table.Renew("renewed-short", TimeSpan.FromSeconds(5)).Should().Be(HostLeaseStatus.Held);

        _table.RevokeIsolated(TimeSpan.FromSeconds(5)).Should().Be(0, "a cut as long as the TTL is not longer than it");
        _table.RevokeIsolated(TimeSpan.FromSeconds(6)).Should().Be(2);

        _table.Renew("short", Ttl).Should().Be(HostLeaseStatus.Revoked);
        _table.Renew("renewed-short", Ttl).Should().Be(HostLeaseStatus.Revoked, "the TTL of its last renew counts");
        _table.Renew("long", Ttl).Should().Be(HostLeaseStatus.Held);
        _table.Reserve("after", GiB, 1, false, Ttl, false).Grant.Should().NotBeNull("a cut host grants again once it reaches the table");
        _table.Counters().Should().Be((4L, 0L, 2L, 0L, 2));
        _manager.GetLeaseSnapshot().ActiveLeases.Should().Be(2);
    }

    [Fact]
    public void Reserve_TtlAboveTheHostsMax_RefusedWithTheReasonNotCut()
    {
        var refused = _table.Reserve("too-long", GiB, 1, false, TimeSpan.FromMinutes(2), false);

        refused.Grant.Should().BeNull();
        refused.Refusal.Should().Contain("MaxLeaseTtl").And.Contain("00:02:00");
        _table.Counters().Granted.Should().Be(0);
        _table.Reserve("at-most", GiB, 1, false, TimeSpan.FromMinutes(1), false).Grant.Should().NotBeNull();
    }

    [Fact]
    public void Reserve_NothingFits_RefusesWithoutGranting()
    {
        var refused = _table.Reserve("big", 500 * GiB, 1, false, Ttl, false);

        refused.Grant.Should().BeNull();
        refused.Refusal.Should().Contain("h1@42");
        _table.Counters().Granted.Should().Be(0);
    }

    [Fact]
    public void EndedRetention_Bounded_OldestIdsForgotten()
    {
        for (var i = 0; i < 6; i++)
        {
            _table.Reserve($"r{i}", GiB, 1, false, Ttl, false);
            _table.Release($"r{i}");
        }

        _table.Release("r0").Should().Be(ClusterReleaseResult.Unknown); // retention 4: r0 and r1 forgotten
        _table.Release("r5").Should().Be(ClusterReleaseResult.AlreadyReleased);
    }

    [Fact]
    public async Task DeviceLost_LeaseOnIt_RevokedByTheHost()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var manager = await StartAsync(time, devices: 1, faults: "lost:0@5s");
        var table = new HostLeaseTable(Host, manager.TryAcquire, time, TimeSpan.FromMinutes(1), 16);
        var ended = new TaskCompletionSource<(string, HostLeaseStatus)>(TaskCreationOptions.RunContinuationsAsynchronously);
        table.Ended += (id, how) => ended.TrySetResult((id, how));
        table.Reserve("r1", GiB, 1, false, Ttl, false).Grant.Should().NotBeNull();

        time.Advance(TimeSpan.FromSeconds(6));
        await manager.RefreshTelemetryAsync();

        (await ended.Task.WaitAsync(TimeSpan.FromSeconds(30))).Should().Be(("r1", HostLeaseStatus.Revoked));
        table.Renew("r1", Ttl).Should().Be(HostLeaseStatus.Revoked);
        table.Counters().Should().Be((1L, 0L, 1L, 0L, 0));
    }

    [Fact]
    public void RandomOperations_Always_GrantedEqualsReleasedRevokedExpiredAndLive()
    {
        for (var seed = 1; seed <= 20; seed++)
        {
            var random = new Random(seed);
            var table = new HostLeaseTable(Host, _manager.TryAcquire, _time, TimeSpan.FromMinutes(1), 1024);
            for (var step = 0; step < 200; step++)
            {
                var id = $"s{seed}-{random.Next(30)}";
                switch (random.Next(6))
                {
                    case 0 or 1: table.Reserve(id, random.Next(1, 30) * GiB, random.Next(1, 3), false, Ttl, random.Next(2) == 0); break;
                    case 2: table.Release(id); break;
                    case 3: table.Renew(id, Ttl); break;
                    case 4: table.Abort(id); break;
                    default: _time.Advance(TimeSpan.FromSeconds(random.Next(4))); table.ExpireDue(); break;
                }

                var (granted, released, revoked, expired, live) = table.Counters();
                granted.Should().Be(released + revoked + expired + live, $"seed {seed}, step {step}");
            }

            table.RevokeAll("end of run");
            var end = table.Counters();
            end.Live.Should().Be(0);
            _manager.GetLeaseSnapshot().ActiveLeases.Should().Be(0, $"seed {seed}: every local lease went back");
        }
    }

    /// <summary>A clock whose wall time jumps while its monotonic time runs on with the fake's.</summary>
    private sealed class JumpingTime(FakeTimeProvider inner) : TimeProvider
    {
        public TimeSpan WallOffset { get; set; }

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow() + WallOffset;

        public override long GetTimestamp() => inner.GetTimestamp();

        public override long TimestampFrequency => inner.TimestampFrequency;
    }
}
