using System.Reflection;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Orleans.Directory;
using Exo.Gpu.Clustering.Orleans.Hosts;
using Exo.Gpu.Clustering.Orleans.Pool;
using Microsoft.Extensions.Time.Testing;
using Exo.Gpu.Clustering.Orleans.Tests.Cluster;

namespace Exo.Gpu.Clustering.Orleans.Tests.Pool;

/// <summary>
/// The pool over fake grains on a fake clock: what fires a lease's token, and when (its renew loop and departure
/// watch), and how often it asks the directory.
/// </summary>
public sealed class ClusterGpuPoolTests
{
    private const long GiB = 1L << 30;
    private static readonly GpuHostIdentity Host = new("h1", 7);
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly CountingTime _clock;
    private readonly FakeHostGrain _host = new();
    private readonly FakeDirectoryGrain _directory = new();

    private static ClusterGpuPoolOptions Options() => new()
    {
        LeaseTtl = TimeSpan.FromSeconds(15),
        HolderDeadline = TimeSpan.FromSeconds(10),
        RenewInterval = TimeSpan.FromSeconds(1),
        CallTimeout = TimeSpan.FromMinutes(5), // a hung call stays hung for the whole test
    };

    public ClusterGpuPoolTests() => _clock = new CountingTime(_time);

    private ClusterGpuPool NewPool(ClusterGpuPoolOptions? options = null) => new(FakeGrains.Create(_host, _directory), options ?? Options(), _clock);

    /// <summary>Acquires, then waits until the pool's two loops have their timers (they start on the thread pool), so no tick is missed.</summary>
    private async Task<ClusterLease> AcquireAsync(ClusterGpuPool pool, string id)
    {
        var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = id, MemoryBytes = GiB });
        for (var timer = 0; timer < 3; timer++) // the lease's deadline, the renew loop, the departure watch
        {
            (await _clock.TimerCreated.WaitAsync(Guard)).Should().BeTrue("the pool creates its timers as it starts");
        }

        return lease;
    }

    [Fact]
    public async Task Monitor_RenewHangsOnADepartedHost_TheDepartureWatchFiresTheTokenAtTheNextTick()
    {
        await using var pool = NewPool();
        var lease = await AcquireAsync(pool, "r1");
        _host.RenewHangs = true;
        _directory.Departed = [Host];

        _time.Advance(Options().RenewInterval);

        await ClusterFixture.FiredAsync(lease).WaitAsync(Guard);
        lease.RevocationReason.Should().Contain("departed");
        _host.RenewCalls.Should().Be(1, "the renew went out and hangs: the watch did not wait for it");
    }

    [Fact]
    public async Task Monitor_RenewsUnanswered_HolderDeadlineFiresBeforeTheHostsTtl()
    {
        await using var pool = NewPool();
        var lease = await AcquireAsync(pool, "r2");
        _host.RenewHangs = true;

        _time.Advance(TimeSpan.FromSeconds(9));
        await Task.Yield();
        lease.Token.IsCancellationRequested.Should().BeFalse("the deadline is 10 s after the grant");
        _time.Advance(TimeSpan.FromSeconds(1));

        await ClusterFixture.FiredAsync(lease).WaitAsync(Guard);
        lease.RevocationReason.Should().Contain("holder deadline");
    }

    [Fact]
    public async Task Monitor_RenewsConfirmed_TokenStaysQuietPastManyDeadlines()
    {
        await using var pool = NewPool();
        var lease = await AcquireAsync(pool, "r3");

        for (var second = 0; second < 60; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            (await _host.Renewed.WaitAsync(Guard)).Should().BeTrue("each tick sends one renew");
        }

        lease.Token.IsCancellationRequested.Should().BeFalse("every renew was confirmed: six holder deadlines passed quietly");
        _host.RenewCalls.Should().Be(60);
    }

    [Fact]
    public async Task AcquireAsync_ManyWithinViewMaxAge_OneDirectoryCallThenAFreshOne()
    {
        await using var pool = NewPool();
        for (var i = 0; i < 10; i++)
        {
            await (await pool.AcquireAsync(new ClusterGpuRequest { RequestId = $"v{i}", MemoryBytes = GiB })).ReleaseAsync();
        }

        _directory.ViewCalls.Should().Be(1, "ten acquires inside 250 ms plan on one view");
        _time.Advance(ClusterGpuPoolOptions.DefaultViewMaxAge);
        await (await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "v10", MemoryBytes = GiB })).ReleaseAsync();
        _directory.ViewCalls.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_FirstRoundRefused_TheNextRoundFetchesAFreshView()
    {
        var options = Options();
        options.RetryDelay = TimeSpan.Zero;
        await using var pool = NewPool(options);
        await (await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "warm", MemoryBytes = GiB })).ReleaseAsync();
        _host.RefuseNext = 1;

        var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "refused-once", MemoryBytes = GiB });

        lease.Parts.Should().ContainSingle();
        (_host.ReserveCalls, _directory.ViewCalls).Should().Be((3, 2), "the first round planned on the kept view; the refusal's round fetched anew");
    }

    [Fact]
    public async Task AcquireAsync_ViewMaxAgeZero_EveryAcquireAsksTheDirectory()
    {
        var options = Options();
        options.ViewMaxAge = TimeSpan.Zero;
        await using var pool = NewPool(options);

        for (var i = 0; i < 3; i++)
        {
            await (await pool.AcquireAsync(new ClusterGpuRequest { RequestId = $"z{i}", MemoryBytes = GiB })).ReleaseAsync();
        }

        _directory.ViewCalls.Should().Be(3);
    }

    /// <summary>The fake clock, signalling every timer created on it (the pool's loops start on the thread pool).</summary>
    private sealed class CountingTime(FakeTimeProvider inner) : TimeProvider
    {
        public SemaphoreSlim TimerCreated { get; } = new(0);

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

        public override long GetTimestamp() => inner.GetTimestamp();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = inner.CreateTimer(callback, state, dueTime, period);
            TimerCreated.Release();
            return timer;
        }
    }

    /// <summary>One host with one 80 GiB device that grants everything; its renews answer Held, or hang.</summary>
    private sealed class FakeHostGrain : IGpuHostGrain
    {
        private long _sequence;
        private int _renews;
        private int _reserves;
        private int _refuse;

        public bool RenewHangs { get; set; }

        /// <summary>How many reserves to refuse from now on.</summary>
        public int RefuseNext { set => Volatile.Write(ref _refuse, value); }

        public int ReserveCalls => Volatile.Read(ref _reserves);

        public int RenewCalls => Volatile.Read(ref _renews);

        /// <summary>Released at every renew call.</summary>
        public SemaphoreSlim Renewed { get; } = new(0);

        public static GpuHostReport Report() => new()
        {
            Host = Host,
            Silo = "S127.0.0.1:11111:7",
            Devices = [new GpuHostDeviceReport { Uuid = "GPU-1", Name = "fake", Health = GpuHealth.Healthy, TotalMemoryBytes = 80 * GiB, CapacityBytes = 80 * GiB, FreeBytes = 80 * GiB }],
            ValidFor = TimeSpan.FromSeconds(3),
        };

        public Task<HostReserveResult> ReserveAsync(string requestId, long memoryBytes, int deviceCount, bool allowDegraded, TimeSpan ttl, bool prepare, string[]? excludeDevices = null)
        {
            Interlocked.Increment(ref _reserves);
            return Task.FromResult(Interlocked.Decrement(ref _refuse) >= 0
                ? new HostReserveResult { Refusal = "busy", Report = Report() }
                : new HostReserveResult { Grant = new ClusterLeasePart { RequestId = requestId, Host = Host, DeviceUuids = ["GPU-1"], MemoryBytes = memoryBytes, Fence = new GpuFencingToken(Host.Generation, Interlocked.Increment(ref _sequence)) } });
        }

        public Task<HostLeaseStatus> CommitAsync(string requestId, TimeSpan ttl) => Task.FromResult(HostLeaseStatus.Held);

        public Task<HostLeaseStatus[]> RenewAsync(string[] requestIds, TimeSpan ttl)
        {
            Interlocked.Increment(ref _renews);
            Renewed.Release();
            return RenewHangs ? new TaskCompletionSource<HostLeaseStatus[]>().Task : Task.FromResult(requestIds.Select(_ => HostLeaseStatus.Held).ToArray());
        }

        public Task<ClusterReleaseResult> ReleaseAsync(string requestId) => Task.FromResult(ClusterReleaseResult.Released);

        public Task<bool> AbortAsync(string requestId) => Task.FromResult(true);

        public Task<GpuHostReport> GetReportAsync() => Task.FromResult(Report());
    }

    /// <summary>The directory: the host's report, and the departed hosts the test sets.</summary>
    private sealed class FakeDirectoryGrain : IGpuDirectoryGrain
    {
        private int _views;

        public IReadOnlyList<GpuHostIdentity> Departed { get; set; } = [];

        public int ViewCalls => Volatile.Read(ref _views);

        public Task ReportAsync(GpuHostReport report) => Task.CompletedTask;

        public Task<string?> ClaimAsync(GpuHostIdentity host, string silo) => Task.FromResult<string?>(null);

        public Task RemoveAsync(GpuHostIdentity host) => Task.CompletedTask;

        public Task<ClusterGpuView> GetViewAsync()
        {
            Interlocked.Increment(ref _views);
            return Task.FromResult(new ClusterGpuView { Hosts = Departed.Contains(Host) ? [] : [FakeHostGrain.Report()], Departed = Departed });
        }
    }

    /// <summary>An <see cref="IGrainFactory"/> that hands out the two fakes (any other call fails the test).</summary>
    public class FakeGrains : DispatchProxy
    {
        private object _host = null!;
        private object _directory = null!;

        internal static IGrainFactory Create(IGpuHostGrain host, IGpuDirectoryGrain directory)
        {
            var factory = Create<IGrainFactory, FakeGrains>();
            var fake = (FakeGrains)(object)factory;
            fake._host = host;
            fake._directory = directory;
            return factory;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod is { Name: nameof(IGrainFactory.GetGrain), IsGenericMethod: true } method
                ? method.GetGenericArguments()[0] switch
                {
                    var t when t == typeof(IGpuHostGrain) => _host,
                    var t when t == typeof(IGpuDirectoryGrain) => _directory,
                    var t => throw new NotSupportedException($"no fake for {t}"),
                }
                : throw new NotSupportedException($"{targetMethod?.Name} is not faked");
    }
}
