using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class LeaseTests
{
    private static readonly GpuRequest TenGiB = new() { MemoryBytes = 10 * GiB };

    [Fact]
    public async Task TryAcquire_Fits_ReservesUntilReleased()
    {
        var selector = Selectors.Create(Uniform(2));
        selector.TryAcquire(new GpuRequest { MemoryBytes = 30 * GiB }, out var lease).Should().BeTrue();
        lease.IsHeld.Should().BeTrue();
        lease.MemoryBytes.Should().Be(30 * GiB);
        lease.Devices.Should().Equal(lease.Device);
        lease.Token.IsCancellationRequested.Should().BeFalse();
        Selectors.Reserved(selector).Should().Equal(30 * GiB, 0);
        Selectors.Leases(selector).Should().Equal(1, 0);

        await lease.DisposeAsync();
        lease.IsHeld.Should().BeFalse();
        Selectors.Reserved(selector).Should().Equal(0, 0);
        var snapshot = selector.GetSnapshot();
        (snapshot.Granted, snapshot.Released, snapshot.Revoked, snapshot.ActiveLeases).Should().Be((1, 1, 0, 0));
    }

    [Fact]
    public async Task DisposeAsync_TwiceOrThroughCopies_ReleasesOnce()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(TenGiB, out var lease).Should().BeTrue();
        var copy = lease;
        await lease.DisposeAsync();
        await lease.DisposeAsync();
        copy.Dispose();
        selector.GetSnapshot().Released.Should().Be(1);
        Selectors.Reserved(selector).Should().Equal(0);
    }

    [Fact]
    public async Task DisposeAsync_StaleHandleAfterReuse_DoesNotReleaseTheNewLease()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(TenGiB, out var first).Should().BeTrue();
        await first.DisposeAsync();
        selector.TryAcquire(TenGiB, out var second).Should().BeTrue();   // reuses the pooled record
        await first.DisposeAsync();
        second.IsHeld.Should().BeTrue();
        first.Should().NotBe(second);
        Selectors.Reserved(selector).Should().Equal(10 * GiB);
        await second.DisposeAsync();
        Selectors.Reserved(selector).Should().Equal(0);
    }

    [Fact]
    public async Task ReleasedLease_PropertiesThrowAndIsHeldIsFalse()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(TenGiB, out var lease).Should().BeTrue();
        lease.ToString().Should().StartWith("lease 1: 10 GiB on 0: NVIDIA H100");
        await lease.DisposeAsync();
        lease.IsHeld.Should().BeFalse();
        lease.Invoking(l => l.Device).Should().Throw<ObjectDisposedException>();
        lease.Invoking(l => l.Token).Should().Throw<ObjectDisposedException>();
        lease.ToString().Should().Be("released lease");
    }

    [Fact]
    public async Task DefaultLease_HoldsNothing()
    {
        var lease = default(GpuLease);
        lease.IsHeld.Should().BeFalse();
        lease.Token.CanBeCanceled.Should().BeFalse();
        lease.Invoking(l => l.Device).Should().Throw<InvalidOperationException>();
        await lease.DisposeAsync();
        lease.ToString().Should().Be("no lease");
    }

    [Fact]
    public void TryAcquire_UntilFull_NeverExceedsCapacity()
    {
        var selector = Selectors.Create(Uniform(3));
        var granted = 0;
        while (selector.TryAcquire(TenGiB, out _))
        {
            granted++;
        }

        granted.Should().Be(3 * 7, "79.5 GiB of capacity holds seven 10 GiB leases");
        selector.GetSnapshot().Devices.Should().OnlyContain(d => d.ReservedBytes == 70 * GiB && d.ReservedBytes <= d.CapacityBytes);
    }

    [Fact]
    public async Task AcquireAsync_1000ConcurrentEqualRequests_SpreadEvenlyAndNeverExceedCapacity()
    {
        // Equal readings on every device and no telemetry update while they arrive: the trap the earlier design fell
        // into (everyone picked the same argmax). Reservations make each choice see the ones before it.
        var source = Uniform(8);
        for (var i = 0; i < 8; i++)
        {
            source.SetSample(i, Sample(usedBytes: GiB));
        }

        var selector = Selectors.Create(source);
        var request = new GpuRequest { MemoryBytes = GiB / 2 };
        using var start = new ManualResetEventSlim();
        var tasks = Enumerable.Range(0, 1000).Select(_ => Task.Run(async () =>
        {
            start.Wait();
            return await selector.AcquireAsync(request);
        })).ToArray();
        start.Set();
        var leases = await Task.WhenAll(tasks).WaitAsync(Selectors.Guard);

        var perDevice = Selectors.Leases(selector);
        perDevice.Sum().Should().Be(1000);
        (perDevice.Max() - perDevice.Min()).Should().BeLessThanOrEqualTo(1);
        leases.GroupBy(l => l.Device.Index).Select(g => g.Count()).Should().OnlyContain(c => c == 125);
        selector.GetSnapshot().Devices.Should().OnlyContain(d => d.ReservedBytes <= d.CapacityBytes);

        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }

        Selectors.Reserved(selector).Should().OnlyContain(r => r == 0);
    }

    [Fact]
    public async Task AcquireAsync_MoreDemandThanCapacity_GrantsUpToCapacityAndQueuesTheRest()
    {
        var selector = Selectors.Create(Uniform(8));
        using var cancel = new CancellationTokenSource();
        var tasks = Enumerable.Range(0, 1000).Select(_ => selector.AcquireAsync(TenGiB, cancel.Token).AsTask()).ToArray();

        var snapshot = selector.GetSnapshot();
        snapshot.ActiveLeases.Should().Be(56);
        snapshot.Waiters.Should().Be(1000 - 56);
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 70 * GiB && d.Waiters == 1000 - 56);

        await cancel.CancelAsync();
        var results = await Task.WhenAll(tasks.Select(async t =>
        {
            try
            {
                return await t;
            }
            catch (OperationCanceledException)
            {
                return default;
            }
        })).WaitAsync(Selectors.Guard);
        results.Count(l => l.IsHeld).Should().Be(56);
        selector.GetSnapshot().Waiters.Should().Be(0);
        foreach (var lease in results)
        {
            await lease.DisposeAsync();
        }

        Selectors.Reserved(selector).Should().OnlyContain(r => r == 0);
    }

    [Fact]
    public async Task AcquireAsync_Waiters_AreServedInFifoOrder()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(new GpuRequest { MemoryBytes = 79 * GiB }, out var blocker).Should().BeTrue();
        var order = new List<int>();
        var waiters = Enumerable.Range(0, 5).Select(i => selector.AcquireAsync(new GpuRequest { MemoryBytes = (60 + i) * GiB }).AsTask()
            .ContinueWith(t => { lock (order) { order.Add(i); } return t.Result; }, TaskScheduler.Default)).ToList();
        selector.GetSnapshot().Waiters.Should().Be(5);
        selector.TryAcquire(new GpuRequest(), out _).Should().BeFalse("a request never overtakes waiting ones");

        var current = blocker;
        for (var i = 0; i < 5; i++)
        {
            await current.DisposeAsync();
            current = await waiters[i].WaitAsync(Selectors.Guard);
            current.MemoryBytes.Should().Be((60 + i) * GiB);
            waiters.Skip(i + 1).Should().NotContain(w => w.IsCompleted, "only the head fits");
        }

        await current.DisposeAsync();
        order.Should().Equal(0, 1, 2, 3, 4);
    }

    [Fact]
    public async Task AcquireAsync_LargeHeadWaiter_IsNotOvertakenBySmallerLaterOnes()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(new GpuRequest { MemoryBytes = 50 * GiB }, out var a).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = 20 * GiB }, out var b).Should().BeTrue();
        var large = selector.AcquireAsync(new GpuRequest { MemoryBytes = 60 * GiB }).AsTask();
        var small = selector.AcquireAsync(new GpuRequest { MemoryBytes = 5 * GiB }).AsTask();
        await b.DisposeAsync();   // 29.5 GiB free: the small one would fit, but the large one is first
        small.IsCompleted.Should().BeFalse();
        await a.DisposeAsync();
        var largeLease = await large.WaitAsync(Selectors.Guard);
        var smallLease = await small.WaitAsync(Selectors.Guard);
        Selectors.Reserved(selector).Should().Equal(65 * GiB);
        await largeLease.DisposeAsync();
        await smallLease.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_CancelledWaiter_LeavesNoReservationAndIsSkipped()
    {
        var time = new FakeTimeProvider();
        var selector = Selectors.Create(Uniform(1), time: time);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB }, out var blocker).Should().BeTrue();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), time);
        var cancelled = selector.AcquireAsync(new GpuRequest { MemoryBytes = 20 * GiB }, timeout.Token).AsTask();
        var next = selector.AcquireAsync(new GpuRequest { MemoryBytes = 20 * GiB }).AsTask();
        selector.GetSnapshot().Waiters.Should().Be(2);

        time.Advance(TimeSpan.FromSeconds(5));
        await cancelled.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<OperationCanceledException>();
        var snapshot = selector.GetSnapshot();
        snapshot.Waiters.Should().Be(1);
        snapshot.Devices[0].ReservedBytes.Should().Be(70 * GiB);

        await blocker.DisposeAsync();
        var lease = await next.WaitAsync(Selectors.Guard);
        Selectors.Reserved(selector).Should().Equal([20 * GiB], "only the live waiter holds memory");
        await lease.DisposeAsync();
        Selectors.Reserved(selector).Should().Equal(0);
        selector.GetSnapshot().Granted.Should().Be(2);
    }

    [Fact]
    public async Task AcquireAsync_CancelledHeadWaiter_LetsTheNextOneIn()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(new GpuRequest { MemoryBytes = 40 * GiB }, out var blocker).Should().BeTrue();
        using var cancel = new CancellationTokenSource();
        var head = selector.AcquireAsync(new GpuRequest { MemoryBytes = 60 * GiB }, cancel.Token).AsTask();
        var second = selector.AcquireAsync(new GpuRequest { MemoryBytes = 30 * GiB }).AsTask();
        second.IsCompleted.Should().BeFalse();
        await cancel.CancelAsync();
        await head.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<OperationCanceledException>();
        var lease = await second.WaitAsync(Selectors.Guard);
        lease.MemoryBytes.Should().Be(30 * GiB);
        await lease.DisposeAsync();
        await blocker.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_AlreadyCancelledToken_ThrowsWithoutReserving()
    {
        var selector = Selectors.Create(Uniform(1));
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();
        await selector.Awaiting(s => s.AcquireAsync(TenGiB, cancel.Token).AsTask()).Should().ThrowAsync<OperationCanceledException>();
        selector.GetSnapshot().Granted.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_RequestThatCanNeverFit_ThrowsAtOnceNamingTheNearestDevice()
    {
        var source = new FakeDeviceStateSource();
        source.Add(Device(0, 40 * GiB), Healthy(Sample(40 * GiB)));
        source.Add(Device(1, 80 * GiB, "NVIDIA A100-SXM4-80GB"), Healthy(Sample()));
        var selector = Selectors.Create(source);
        var thrown = await selector.Awaiting(s => s.AcquireAsync(new GpuRequest { MemoryBytes = 60 * GiB, NamePattern = "H100" }).AsTask())
            .Should().ThrowAsync<NoEligibleGpuException>();
        thrown.Which.Message.Should().Contain("nearest: 0: NVIDIA H100 80GB HBM3").And.Contain("needs 60 GiB, capacity 39.5 GiB");
        selector.GetSnapshot().Waiters.Should().Be(0);
    }

    [Fact]
    public async Task AcquireAsync_WaitsOnTelemetry_RecheckTimerGrantsWhenMemoryFrees()
    {
        var time = new FakeTimeProvider();
        var source = Uniform(1);
        source.SetSample(0, Sample(usedBytes: 70 * GiB));   // another process holds 70 GiB
        var selector = Selectors.Create(source, new DeviceSelectorOptions { WaitRecheckInterval = TimeSpan.FromSeconds(1) }, time);
        var waiting = selector.AcquireAsync(new GpuRequest { MemoryBytes = 20 * GiB }).AsTask();
        time.Advance(TimeSpan.FromSeconds(1));
        waiting.IsCompleted.Should().BeFalse();

        source.SetSample(0, Sample(usedBytes: 10 * GiB));
        time.Advance(TimeSpan.FromSeconds(1));
        var lease = await waiting.WaitAsync(Selectors.Guard);
        lease.Device.Index.Should().Be(0);
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_DeviceBecomesHealthy_WaiterIsGranted()
    {
        var source = Uniform(2);
        source.ChangeHealth(0, GpuHealth.Unhealthy);
        source.ChangeHealth(1, GpuHealth.Unhealthy);
        var selector = Selectors.Create(source, new DeviceSelectorOptions { WaitRecheckInterval = Timeout.InfiniteTimeSpan });
        var waiting = selector.AcquireAsync(TenGiB).AsTask();
        waiting.IsCompleted.Should().BeFalse();
        source.ChangeHealth(1, GpuHealth.Healthy);
        var lease = await waiting.WaitAsync(Selectors.Guard);
        lease.Device.Index.Should().Be(1);
    }

    [Fact]
    public void TryAcquire_ConcurrencySlots_LimitLeasesPerDevice()
    {
        var selector = Selectors.Create(Uniform(2), new DeviceSelectorOptions { MaxLeasesPerDevice = 2 });
        for (var i = 0; i < 4; i++)
        {
            selector.TryAcquire(new GpuRequest(), out _).Should().BeTrue();
        }

        selector.TryAcquire(new GpuRequest(), out _).Should().BeFalse();
        Selectors.Leases(selector).Should().Equal(2, 2);
    }

    [Fact]
    public async Task Gang_GrantedAllAtOnceOrNotAtAll()
    {
        var selector = Selectors.Create(Uniform(4));
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }, out var a).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [1] }, out var b).Should().BeTrue();
        var gang = new GpuRequest { MemoryBytes = 20 * GiB, DeviceCount = 3 };
        selector.TryAcquire(gang, out _).Should().BeFalse();
        var waiting = selector.AcquireAsync(gang).AsTask();
        Selectors.Reserved(selector).Should().Equal([70 * GiB, 70 * GiB, 0, 0], "a waiting gang holds nothing");

        await a.DisposeAsync();
        var lease = await waiting.WaitAsync(Selectors.Guard);
        lease.Devices.Select(d => d.Index).Order().Should().Equal(0, 2, 3);
        Selectors.Reserved(selector).Should().Equal(20 * GiB, 70 * GiB, 20 * GiB, 20 * GiB);
        await lease.DisposeAsync();
        await b.DisposeAsync();
        Selectors.Reserved(selector).Should().OnlyContain(r => r == 0);
    }

    [Fact]
    public async Task Gang_TwoLargeGangs_DoNotDeadlock()
    {
        var selector = Selectors.Create(Uniform(6));
        var gang = new GpuRequest { MemoryBytes = 50 * GiB, DeviceCount = 4 };
        var first = await selector.AcquireAsync(gang);
        var second = selector.AcquireAsync(gang).AsTask();
        Selectors.Leases(selector).Sum().Should().Be(4, "the second gang takes nothing while it waits");
        await first.DisposeAsync();
        var lease = await second.WaitAsync(Selectors.Guard);
        lease.Devices.Should().HaveCount(4).And.OnlyHaveUniqueItems();
        await lease.DisposeAsync();
    }

    [Fact]
    public async Task Gang_RandomizedStressOfMixedSizes_FinishesWithEveryGrantAllOrNothing()
    {
        var source = Uniform(8);
        var selector = Selectors.Create(source);
        var violations = 0;
        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            var random = new Random(1000 + w);
            for (var i = 0; i < 300; i++)
            {
                var request = new GpuRequest { DeviceCount = random.Next(1, 9), MemoryBytes = random.Next(1, 60) * GiB };
                await using var lease = await selector.AcquireAsync(request);
                if (lease.Devices.Count != request.DeviceCount || lease.Devices.Distinct().Count() != request.DeviceCount)
                {
                    Interlocked.Increment(ref violations);
                }

                if (selector.GetSnapshot().Devices.Any(d => d.ReservedBytes > d.CapacityBytes))
                {
                    Interlocked.Increment(ref violations);
                }

                await Task.Yield();
            }
        })).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        violations.Should().Be(0);
        var snapshot = selector.GetSnapshot();
        snapshot.Granted.Should().Be(16 * 300);
        snapshot.Released.Should().Be(16 * 300);
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0 && d.ActiveLeases == 0);
    }

    [Fact]
    public async Task Revocation_DeviceLost_FiresTheTokenAndCountsItOnce()
    {
        var source = Uniform(3);
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [1], MemoryBytes = 10 * GiB }, out var onLost).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [2], MemoryBytes = 10 * GiB }, out var other).Should().BeTrue();
        source.ChangeHealth(1, GpuHealth.Lost, "fell off the bus");
        await Selectors.WhenCancelled(onLost.Token);
        other.Token.IsCancellationRequested.Should().BeFalse();

        var snapshot = selector.GetSnapshot();
        (snapshot.Granted, snapshot.Released, snapshot.Revoked).Should().Be((2, 0, 1));
        snapshot.Devices[1].ReservedBytes.Should().Be(10 * GiB, "the holder still owns it until it releases");
        onLost.IsHeld.Should().BeTrue();

        await onLost.DisposeAsync();
        await other.DisposeAsync();
        snapshot = selector.GetSnapshot();
        (snapshot.Granted, snapshot.Released, snapshot.Revoked).Should().Be((2, 1, 1));
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0);
    }

    [Fact]
    public async Task Revocation_GangWithOneDeviceUnhealthy_FiresTheGangsToken()
    {
        var source = Uniform(4);
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { DeviceCount = 3, ExcludeIndexes = [3] }, out var gang).Should().BeTrue();
        source.ChangeHealth(2, GpuHealth.Unhealthy, "Xid 79");
        await Selectors.WhenCancelled(gang.Token);
        selector.GetSnapshot().Revoked.Should().Be(1);
        await gang.DisposeAsync();
        selector.GetSnapshot().Devices.Should().OnlyContain(d => d.ReservedBytes == 0);
    }

    [Fact]
    public async Task Revocation_DegradedIsNotRevoked_AndARejoinedDeviceGetsAFreshToken()
    {
        var source = Uniform(2);
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [0] }, out var onDegraded).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [1] }, out var onLost).Should().BeTrue();
        source.ChangeHealth(0, GpuHealth.Degraded, "hot");
        source.ChangeHealth(1, GpuHealth.Lost);
        await Selectors.WhenCancelled(onLost.Token);   // changes are handled in order: the Degraded one is done too
        onDegraded.Token.IsCancellationRequested.Should().BeFalse();

        source.ChangeHealth(1, GpuHealth.Healthy, "rejoined");
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [1] }, out var fresh).Should().BeTrue();
        fresh.Token.IsCancellationRequested.Should().BeFalse();
        selector.GetSnapshot().Revoked.Should().Be(1);
    }

    [Fact]
    public async Task Shutdown_FailsWaitersRevokesLeasesAndDrains()
    {
        var selector = Selectors.Create(Uniform(2));
        var held = await selector.AcquireAsync(new GpuRequest { MemoryBytes = 70 * GiB, DeviceCount = 2 });
        selector.TryAcquire(new GpuRequest { MemoryBytes = 5 * GiB }, out var single).Should().BeTrue();
        var waiter = selector.AcquireAsync(new GpuRequest { MemoryBytes = 30 * GiB }).AsTask();

        selector.BeginShutdown();
        await waiter.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<ObjectDisposedException>();
        held.Token.IsCancellationRequested.Should().BeTrue();
        single.Token.IsCancellationRequested.Should().BeTrue();
        selector.Invoking(s => s.TryAcquire(new GpuRequest(), out _)).Should().Throw<ObjectDisposedException>();
        selector.Invoking(s => s.Select(new GpuRequest())).Should().Throw<ObjectDisposedException>();
        selector.Invoking(s => s.Explain(new GpuRequest())).Should().Throw<ObjectDisposedException>();
        await selector.Awaiting(s => s.AcquireAsync(new GpuRequest()).AsTask()).Should().ThrowAsync<ObjectDisposedException>();

        var drained = selector.WhenDrainedAsync(CancellationToken.None);
        drained.IsCompleted.Should().BeFalse();
        await held.DisposeAsync();
        drained.IsCompleted.Should().BeFalse();
        await single.DisposeAsync();
        await drained.WaitAsync(Selectors.Guard);

        var snapshot = selector.GetSnapshot();
        (snapshot.Granted, snapshot.Released, snapshot.Revoked, snapshot.Waiters).Should().Be((2, 0, 2, 0));
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0);
        selector.BeginShutdown();   // idempotent
    }

    [Fact]
    public async Task WhenDrainedAsync_TokenFires_StopsWaiting()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(new GpuRequest(), out _).Should().BeTrue();
        selector.BeginShutdown();
        using var cancel = new CancellationTokenSource();
        var drained = selector.WhenDrainedAsync(cancel.Token);
        await cancel.CancelAsync();
        await drained.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<OperationCanceledException>();
        selector.WhenDrainedAsync(CancellationToken.None).IsCompleted.Should().BeFalse();
    }

    [Fact]
    public async Task DisposeAsync_UnsubscribesAndShutsDown()
    {
        var source = Uniform(1);
        var selector = Selectors.Create(source);
        source.Subscribers.Should().Be(1);
        await selector.DisposeAsync();
        await selector.DisposeAsync();
        source.Subscribers.Should().Be(0);
        selector.Invoking(s => s.Select(new GpuRequest())).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task Stress_16TasksWithRevocationsAndShutdownRace_AccountsForEveryLease()
    {
        var source = Uniform(8);
        var selector = Selectors.Create(source, new DeviceSelectorOptions { MaxLeasesPerDevice = 4, Seed = 9 });
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var i = 0; i < 400; i++)
            {
                var request = new GpuRequest
                {
                    MemoryBytes = random.Next(0, 40) * GiB,
                    DeviceCount = random.Next(4) == 0 ? random.Next(2, 4) : 1,
                    Strategy = (GpuSelectionStrategy)random.Next(7),
                    AllowDegraded = true,
                };
                using var timeout = new CancellationTokenSource();
                GpuLease lease;
                if (random.Next(3) == 0)
                {
                    if (!selector.TryAcquire(request, out lease))
                    {
                        continue;
                    }
                }
                else
                {
                    var pending = selector.AcquireAsync(request, timeout.Token).AsTask();
                    if (random.Next(5) == 0)
                    {
                        await timeout.CancelAsync();
                    }

                    try
                    {
                        lease = await pending;
                    }
                    catch (OperationCanceledException)
                    {
                        continue;
                    }
                }

                await Task.Yield();
                await lease.DisposeAsync();
            }
        })).ToArray();

        // Meanwhile, devices are lost and come back.
        var chaos = Task.Run(async () =>
        {
            var random = new Random(77);
            while (!workers.All(t => t.IsCompleted))
            {
                var slot = random.Next(8);
                source.ChangeHealth(slot, GpuHealth.Lost);
                await Task.Yield();
                source.ChangeHealth(slot, GpuHealth.Healthy);
                await Task.Yield();
            }
        });

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        await chaos.WaitAsync(Selectors.Guard);
        var snapshot = selector.GetSnapshot();
        snapshot.Granted.Should().BePositive();
        snapshot.Granted.Should().Be(snapshot.Released + snapshot.Revoked);
        snapshot.ActiveLeases.Should().Be(0);
        snapshot.Waiters.Should().Be(0);
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0 && d.ActiveLeases == 0);
    }

    [Fact]
    public async Task Stress_ShutdownWhileAcquiring_EveryCallEndsWithAnExpectedOutcome()
    {
        var selector = Selectors.Create(Uniform(4));
        var unexpected = 0;
        var iterations = 0;
        var progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            while (true)
            {
                try
                {
                    var lease = await selector.AcquireAsync(new GpuRequest { MemoryBytes = random.Next(1, 80) * GiB });
                    await Task.Yield();
                    await lease.DisposeAsync();
                    if (Interlocked.Increment(ref iterations) == 200)
                    {
                        progress.TrySetResult();
                    }
                }
                catch (ObjectDisposedException)
                {
                    return;
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref unexpected);
                    return;
                }
            }
        })).ToArray();

        await progress.Task.WaitAsync(Selectors.Guard);
        selector.BeginShutdown();
        await Task.WhenAll(workers).WaitAsync(Selectors.Guard);
        await selector.WhenDrainedAsync(CancellationToken.None).WaitAsync(Selectors.Guard);
        unexpected.Should().Be(0);
        var snapshot = selector.GetSnapshot();
        snapshot.Granted.Should().Be(snapshot.Released + snapshot.Revoked);
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0);
    }
}
