using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

/// <summary>
/// What keeps selection and leases fast at scale: the clock read once per scan, scans outside the selector's lock
/// (re-checked under it), waiter counts kept as requests queue, and the invariants under a randomized stress.
/// </summary>
public class ScaleTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Select_AmongEightDevices_ReadsTheSourcesClockOncePerScan()
    {
        var source = Uniform(8);
        var selector = Selectors.Create(source);

        selector.Select(new GpuRequest { MemoryBytes = GiB });
        selector.TryAcquire(new GpuRequest { MemoryBytes = GiB }, out var lease).Should().BeTrue();

        source.NowReads.Should().Be(2, "one scan for the selection, one for the lease");
        source.ClockedStateReads.Should().Be(0, "no state is read at its own instant");
        lease.Dispose();
    }

    [Fact]
    public async Task Select_ThroughTheCollector_ReadsItsClockOnce()
    {
        var time = new CountingTimeProvider(new FakeTimeProvider(Start));
        var devices = Enumerable.Range(0, 8).Select(i => Device(i)).ToArray();
        await using var collector = new TelemetryCollector(devices, timeProvider: time);
        foreach (var device in devices)
        {
            collector.Record(device.Uuid, Sample() with { Timestamp = Start });
        }

        await using var selector = new DeviceSelector(collector, new DeviceSelectorOptions { Seed = 1 });
        time.Reads = 0;
        selector.Select(new GpuRequest { MemoryBytes = GiB, Strategy = GpuSelectionStrategy.MostFreeMemory });
        time.Reads.Should().Be(1);
    }

    [Fact]
    public async Task TryAcquire_WhileItsScanIsStoppedOnADevice_DoesNotHoldTheLock()
    {
        var source = Uniform(8);
        var selector = Selectors.Create(source);
        using var reached = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        source.OnRead = slot =>
        {
            if (slot == 5 && !reached.IsSet)
            {
                reached.Set();
                resume.Wait(Selectors.Guard);
            }
        };

        var scanning = Task.Run(() => selector.TryAcquire(new GpuRequest { MemoryBytes = GiB }, out var lease) ? lease : default);
        reached.Wait(Selectors.Guard).Should().BeTrue();

        // Both take the selector's lock: with the scan under it, they would wait for the stopped scan.
        var pinned = Task.Run(() => selector.TryAcquire(new GpuRequest { MemoryBytes = GiB, IncludeIndexes = [2] }, out var lease) ? lease : default);
        var snapshot = Task.Run(selector.GetSnapshot);
        await Task.WhenAny(Task.WhenAll(pinned, snapshot), Task.Delay(Selectors.Guard));
        resume.Set();
        pinned.IsCompletedSuccessfully.Should().BeTrue("the lock is free while another request scans");
        snapshot.IsCompletedSuccessfully.Should().BeTrue();
        (await pinned).Device.Index.Should().Be(2);

        var first = await scanning.WaitAsync(Selectors.Guard);
        first.IsHeld.Should().BeTrue();
        selector.FindInvariantViolation().Should().BeNull();
    }

    [Fact]
    public async Task TryAcquire_RoomTakenBetweenItsScanAndTheGrant_ScansAgainAndNeverOversubscribes()
    {
        // Device 0 has room for one 50 GiB lease; device 1 is full. The scan sees device 0 free, stops on device 1,
        // and meanwhile another caller takes device 0: the re-check under the lock sees the reservation move.
        var source = Uniform(2);
        source.SetSample(1, Sample(usedBytes: 80 * GiB));
        var selector = Selectors.Create(source);
        using var reached = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        source.OnRead = slot =>
        {
            if (slot == 1 && !reached.IsSet)
            {
                reached.Set();
                resume.Wait(Selectors.Guard);
            }
        };

        var request = new GpuRequest { MemoryBytes = 50 * GiB };
        var racing = Task.Run(() => (selector.TryAcquire(request, out var lease), lease));
        reached.Wait(Selectors.Guard).Should().BeTrue();
        var other = await Task.Run(() => selector.TryAcquire(new GpuRequest { MemoryBytes = 50 * GiB, IncludeIndexes = [0] }, out var lease) ? lease : default)
            .WaitAsync(Selectors.Guard);
        other.IsHeld.Should().BeTrue();
        resume.Set();

        var (granted, _) = await racing.WaitAsync(Selectors.Guard);
        granted.Should().BeFalse("device 0's room went to the other caller while the scan ran");
        Selectors.Reserved(selector).Should().Equal(50 * GiB, 0);
        selector.FindInvariantViolation().Should().BeNull();
        await other.DisposeAsync();
    }

    [Fact]
    public async Task AcquireAsync_ConcurrentGrantDuringItsScan_PicksAnotherDeviceNotTheSameOne()
    {
        // Two equal devices, room for one lease each. The scan sees both empty and picks device 0; another caller takes
        // device 0 before the grant: the pick is no longer what the scan saw, so it scans again and takes device 1.
        var source = Uniform(2);
        var selector = Selectors.Create(source);
        using var reached = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        source.OnRead = slot =>
        {
            if (slot == 1 && !reached.IsSet)
            {
                reached.Set();
                resume.Wait(Selectors.Guard);
            }
        };

        var racing = Task.Run(async () => await selector.AcquireAsync(new GpuRequest { MemoryBytes = 50 * GiB }));
        reached.Wait(Selectors.Guard).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = 50 * GiB, IncludeIndexes = [0] }, out var other).Should().BeTrue();
        resume.Set();

        var lease = await racing.WaitAsync(Selectors.Guard);
        lease.Device.Index.Should().Be(1);
        Selectors.Leases(selector).Should().Equal(1, 1);
        await lease.DisposeAsync();
        await other.DisposeAsync();
    }

    [Fact]
    public async Task Release_WhileThePumpScansForTheHead_DoesNotHoldTheLock()
    {
        var source = Uniform(4);
        var selector = Selectors.Create(source);
        var whole = new GpuRequest { MemoryBytes = 70 * GiB };
        var held = new List<GpuLease>();
        for (var i = 0; i < 4; i++)
        {
            selector.TryAcquire(whole, out var lease).Should().BeTrue();
            held.Add(lease);
        }

        var waiting = selector.AcquireAsync(whole).AsTask();
        using var reached = new ManualResetEventSlim();
        using var resume = new ManualResetEventSlim();
        source.OnRead = slot =>
        {
            if (slot == 3 && !reached.IsSet)
            {
                reached.Set();
                resume.Wait(Selectors.Guard);
            }
        };

        var releasing = Task.Run(() => held[0].Dispose()); // serves the waiter: scans for it
        reached.Wait(Selectors.Guard).Should().BeTrue();
        var snapshot = Task.Run(selector.GetSnapshot);
        var done = await Task.WhenAny(snapshot, Task.Delay(Selectors.Guard));
        resume.Set();
        done.Should().BeSameAs(snapshot, "the pump scans outside the lock");

        await releasing.WaitAsync(Selectors.Guard);
        var granted = await waiting.WaitAsync(Selectors.Guard);
        granted.Device.Index.Should().Be(0);
        selector.FindInvariantViolation().Should().BeNull();
        await granted.DisposeAsync();
        foreach (var lease in held.Skip(1))
        {
            await lease.DisposeAsync();
        }
    }

    [Fact]
    public async Task GetSnapshot_WaitersPinnedExcludedAndFree_CountsEachDeviceItCouldServe()
    {
        var source = Uniform(4);
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }, out var blocker).Should().BeTrue();
        var full = 70 * GiB;

        // The head waits for device 0; those behind it wait in FIFO order.
        using var cancel = new CancellationTokenSource();
        var pinned = selector.AcquireAsync(new GpuRequest { MemoryBytes = full, IncludeIndexes = [0] }).AsTask();
        var excluded = selector.AcquireAsync(new GpuRequest { MemoryBytes = full, ExcludeIndexes = [1] }, cancel.Token).AsTask();
        var any = selector.AcquireAsync(new GpuRequest { MemoryBytes = full }).AsTask();
        var two = selector.AcquireAsync(new GpuRequest { MemoryBytes = full, IncludeIndexes = [2, 3] }).AsTask();
        Waiters(selector).Should().Equal(3, 1, 3, 3);

        await cancel.CancelAsync();
        await FluentActions.Awaiting(() => excluded).Should().ThrowAsync<OperationCanceledException>();
        Waiters(selector).Should().Equal(2, 1, 2, 2);

        await blocker.DisposeAsync(); // the head is granted, then every waiter behind it fits
        var leases = await Task.WhenAll(pinned, any, two).WaitAsync(Selectors.Guard);
        Waiters(selector).Should().Equal(0, 0, 0, 0);
        selector.GetSnapshot().Waiters.Should().Be(0);
        foreach (var lease in leases)
        {
            await lease.DisposeAsync();
        }
    }

    [Fact]
    public async Task GetSnapshot_WaiterQueuedBeforeTheDeviceSetGrew_IsStillCountedOnItsDevices()
    {
        var source = Uniform(2);
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }, out var blocker).Should().BeTrue();
        var waiting = selector.AcquireAsync(new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }).AsTask();

        source.Add(Device(2), Healthy(Sample()));
        selector.Select(new GpuRequest()); // the selector follows the new device set

        var snapshot = selector.GetSnapshot();
        snapshot.Devices.Should().HaveCount(3);
        snapshot.Devices.Select(d => d.Waiters).Should().Equal(1, 0, 0);
        await blocker.DisposeAsync();
        await (await waiting.WaitAsync(Selectors.Guard)).DisposeAsync();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Stress_64TasksMixedGangsShutdownAtARandomMoment_KeepsEveryInvariant(int seed)
    {
        var source = Uniform(6);
        var selector = Selectors.Create(source, new DeviceSelectorOptions { MaxLeasesPerDevice = 3, Seed = seed });
        var random = new Random(seed);
        var shutdownAfter = random.Next(50, 1_500); // grants before shutdown begins
        var grants = 0;
        var unexpected = new List<Exception>();
        var violations = new List<string>();
        var workers = Enumerable.Range(0, 64).Select(w => Task.Run(async () =>
        {
            var r = new Random((seed * 1000) + w);
            for (var i = 0; i < 200; i++)
            {
                var pinned = r.Next(6) == 0;
                var request = new GpuRequest
                {
                    MemoryBytes = r.Next(0, 60) * GiB,
                    DeviceCount = !pinned && r.Next(4) == 0 ? r.Next(2, 5) : 1,
                    Strategy = (GpuSelectionStrategy)r.Next(7),
                    IncludeIndexes = pinned ? [r.Next(6)] : null,
                };

                try
                {
                    GpuLease lease;
                    if (r.Next(3) == 0)
                    {
                        if (!selector.TryAcquire(request, out lease))
                        {
                            continue;
                        }
                    }
                    else
                    {
                        using var timeout = new CancellationTokenSource();
                        var pending = selector.AcquireAsync(request, timeout.Token).AsTask();
                        if (r.Next(6) == 0)
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

                    if (lease.Devices.Count != request.DeviceCount || lease.Devices.Distinct().Count() != request.DeviceCount)
                    {
                        lock (violations)
                        {
                            violations.Add($"a lease for {request.DeviceCount} devices holds {lease.Devices.Count} distinct ones");
                        }
                    }

                    if (Interlocked.Increment(ref grants) == shutdownAfter)
                    {
                        selector.BeginShutdown();
                    }

                    await Task.Yield();
                    if (selector.FindInvariantViolation() is { } violation)
                    {
                        lock (violations)
                        {
                            violations.Add(violation);
                        }
                    }

                    await lease.DisposeAsync();
                }
                catch (ObjectDisposedException)
                {
                    return; // shut down
                }
                catch (Exception e)
                {
                    lock (unexpected)
                    {
                        unexpected.Add(e);
                    }

                    return;
                }
            }
        })).ToArray();

        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
        selector.BeginShutdown();
        await selector.WhenDrainedAsync(CancellationToken.None).WaitAsync(Selectors.Guard);
        unexpected.Should().BeEmpty();
        violations.Should().BeEmpty();
        selector.FindInvariantViolation().Should().BeNull();
        var snapshot = selector.GetSnapshot();
        snapshot.Granted.Should().Be(grants);
        snapshot.Granted.Should().Be(snapshot.Released + snapshot.Revoked);
        snapshot.ActiveLeases.Should().Be(0);
        snapshot.Waiters.Should().Be(0);
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0 && d.ActiveLeases == 0 && d.Waiters == 0);
    }

    private static int[] Waiters(DeviceSelector selector) => [.. selector.GetSnapshot().Devices.Select(d => d.Waiters)];

    /// <summary>Counts every read of the clock, wall or monotonic.</summary>
    private sealed class CountingTimeProvider(TimeProvider inner) : TimeProvider
    {
        public int Reads { get; set; }

        public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

        public override long TimestampFrequency => inner.TimestampFrequency;

        public override DateTimeOffset GetUtcNow()
        {
            Reads++;
            return inner.GetUtcNow();
        }

        public override long GetTimestamp()
        {
            Reads++;
            return inner.GetTimestamp();
        }

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            inner.CreateTimer(callback, state, dueTime, period);
    }
}
