using System.Collections.Concurrent;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary>Runs alone (it keeps both cores busy), like the telemetry tests that saturate the CPUs.</summary>
[Collection(TimingSensitive.Name)]
public class StressTests
{
    private const int Rounds = 100;
    private const int Workers = 16;
    private const int Recorders = 3;

    [Fact]
    public async Task SixteenTasks_RecordSelectAcquireReleaseWhileShutdownStarts_NoDeadlockOnlyDocumentedExceptionsEveryLeaseAccounted()
    {
        long granted = 0, revoked = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var snapshot = await RunRoundAsync(round);   // every wait inside is guarded
            granted += snapshot.Granted;
            revoked += snapshot.Revoked;
        }

        // The runs did what a stress is for: leases came and went, and some were revoked under their holders.
        granted.Should().BeGreaterThan(Rounds * 10);
        revoked.Should().BeGreaterThan(0);
    }

    private static string Describe(GpuLeaseSnapshot s) => $"granted {s.Granted} released {s.Released} revoked {s.Revoked} active {s.ActiveLeases} waiters {s.Waiters}";

    private static async Task Stage(Task task, string name, Func<string> state)
    {
        try
        {
            await task.WaitAsync(Guard);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{name}: {state()}");
        }
    }

    private static async Task<GpuLeaseSnapshot> RunRoundAsync(int round)
    {
        var time = new FakeTimeProvider(Start);
        var backend = Simulated(time, devices: 8, seed: round + 1);
        var setup = Options(time, null, backend);
        setup.Options.EnablePoller = round % 2 == 0;
        setup.Options.RediscoveryInterval = TimeSpan.FromSeconds(30);
        var manager = await GpuClusteringManager.StartAsync(setup.Options, setup.Services).WaitAsync(Guard);
        var selector = manager.Selector;   // kept to read the lease accounting after shutdown (the manager refuses it then)
        var subscription = manager.Telemetry.Subscribe(64);
        var devices = manager.Devices;
        var failures = new ConcurrentQueue<string>();
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var threshold = 3000 + (round % 5 * 1000);   // shutdown starts at a different point each round
        long operations = 0, obtained = 0;

        void Count()
        {
            if (Interlocked.Increment(ref operations) == threshold)
            {
                enough.TrySetResult();
            }
        }

        // Returns whether the worker should stop (the manager refused: shutdown has begun).
        bool Handle(Exception e, string what, bool isRecord = false)
        {
            switch (e)
            {
                case ObjectDisposedException:
                    if (!manager.IsShuttingDown)
                    {
                        failures.Enqueue($"{what}: ObjectDisposedException before shutdown: {e}");
                    }

                    return true;
                case OperationCanceledException or NoEligibleGpuException:
                    return false;
                case InvalidOperationException when isRecord:   // Record on a lost device
                    return false;
                default:
                    failures.Enqueue($"{what}: undocumented {e}");
                    return true;
            }
        }

        async Task Release(GpuLease lease, Random random)
        {
            if (random.Next(2) == 0)
            {
                await lease.DisposeAsync();
            }
            else
            {
                lease.Dispose();
            }
        }

        async Task RecordAsync(int worker)
        {
            var uuid = devices[worker].Uuid;
            for (long tick = 1; tick < 200_000; tick++)
            {
                await Task.Yield();
                try
                {
                    // This task is the device's only writer and its readings are stamped after the clock's now, so
                    // they only increase (the poller's readings of this device are the older ones, and fail).
                    manager.Telemetry.Record(uuid, Sample(Start.AddTicks(tick), usedBytes: (tick % 40) * GiB));
                    Count();
                }
                catch (Exception e) when (!Handle(e, "Record", isRecord: true))
                {
                }
                catch
                {
                    return;
                }
            }

            failures.Enqueue("a recorder never saw the shutdown");
        }

        async Task RefreshAsync()
        {
            for (var i = 0; i < 200_000; i++)
            {
                await Task.Yield();
                try
                {
                    if (i % 10 == 9)
                    {
                        await manager.RediscoverAsync();
                    }
                    else
                    {
                        await manager.RefreshTelemetryAsync();
                    }

                    Count();
                }
                catch (Exception e) when (!Handle(e, "Refresh/Rediscover"))
                {
                }
                catch
                {
                    return;
                }
            }

            failures.Enqueue("the refresher never saw the shutdown");
        }

        async Task SelectAsync(Random random)
        {
            for (var i = 0; i < 200_000; i++)
            {
                await Task.Yield();
                try
                {
                    switch (random.Next(7))
                    {
                        case 0:
                            manager.SelectBest(random.Next(0, 70) * GiB);
                            break;
                        case 1:
                            manager.GetStatuses();
                            break;
                        case 2:
                            manager.GetClusterTelemetry();
                            break;
                        case 3:
                            var items = random.Next(0, 10_000);
                            manager.DistributeUniform(items).Plan.Assigned.Should().Be(items, "an uncapped split assigns every item");
                            break;
                        case 4:
                            manager.DistributeByCapacity(random.Next(0, 10_000));
                            break;
                        case 5:
                            manager.GetLeaseSnapshot();
                            break;
                        default:
                            manager.Selector.Explain(new GpuRequest { MemoryBytes = random.Next(0, 70) * GiB });
                            break;
                    }

                    Count();
                }
                catch (Exception e) when (!Handle(e, "Select"))
                {
                }
                catch
                {
                    return;
                }
            }

            failures.Enqueue("a selector never saw the shutdown");
        }

        async Task TryAcquireAsync(Random random)
        {
            for (var i = 0; i < 200_000; i++)
            {
                await Task.Yield();
                try
                {
                    var request = new GpuRequest { MemoryBytes = random.Next(5, 60) * GiB, DeviceCount = random.Next(8) == 0 ? 2 : 1 };
                    if (manager.TryAcquire(request, out var lease))
                    {
                        Interlocked.Increment(ref obtained);
                        try
                        {
                            await Task.Yield();
                            manager.SelectBest(GiB);
                        }
                        finally
                        {
                            await Release(lease, random);
                        }
                    }

                    Count();
                }
                catch (Exception e) when (!Handle(e, "TryAcquire"))
                {
                }
                catch
                {
                    return;
                }
            }

            failures.Enqueue("a TryAcquire worker never saw the shutdown");
        }

        async Task AcquireAsync(Random random)
        {
            for (var i = 0; i < 200_000; i++)
            {
                await Task.Yield();
                try
                {
                    using var cancel = new CancellationTokenSource();
                    var pending = manager.AcquireAsync(new GpuRequest { MemoryBytes = random.Next(5, 70) * GiB }, cancel.Token);
                    if (random.Next(4) == 0)
                    {
                        await cancel.CancelAsync();
                    }

                    var lease = await pending;
                    Interlocked.Increment(ref obtained);
                    try
                    {
                        await Task.Yield();
                        _ = lease.Token.IsCancellationRequested;
                    }
                    finally
                    {
                        await Release(lease, random);
                    }

                    Count();
                }
                catch (Exception e) when (!Handle(e, "AcquireAsync"))
                {
                }
                catch
                {
                    return;
                }
            }

            failures.Enqueue("an AcquireAsync worker never saw the shutdown");
        }

        var workers = new Task[Workers];
        for (var w = 0; w < Workers; w++)
        {
            var worker = w;
            var random = new Random((round * 100) + worker);
            workers[w] = Task.Run(() => worker switch
            {
                < Recorders => RecordAsync(worker),
                Recorders => RefreshAsync(),
                < 7 => SelectAsync(random),
                < 12 => TryAcquireAsync(random),
                _ => AcquireAsync(random),
            });
        }

        string State() => $"round {round}: operations {Interlocked.Read(ref operations)}, workers done [{string.Join(",", workers.Select(t => t.Status))}], snapshot {Describe(selector.GetSnapshot())}";
        await Stage(enough.Task, "enough", State);
        Task[] shutdowns =
        [
            Task.Run(() => manager.ShutdownAsync()),
            Task.Run(() => manager.DisposeAsync().AsTask()),
            manager.ShutdownAsync(),
        ];
        await Stage(Task.WhenAll(workers), "workers", State);
        await Stage(Task.WhenAll(shutdowns), "shutdowns", () => State() + $" shutdowns [{string.Join(",", shutdowns.Select(t => t.Status))}]");

        failures.Should().BeEmpty("round {0}", round);
        var snapshot = selector.GetSnapshot();
        (snapshot.ActiveLeases, snapshot.Waiters).Should().Be((0, 0), "round {0}", round);
        snapshot.Granted.Should().Be(snapshot.Released + snapshot.Revoked, "round {0}: every lease is released or revoked", round);
        snapshot.Granted.Should().Be(Interlocked.Read(ref obtained), "round {0}: every grant reached a holder", round);
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0 && d.ActiveLeases == 0, "round {0}", round);
        using var guard = new CancellationTokenSource(Guard);
        await foreach (var _ in subscription.ReadAllAsync(guard.Token))
        {
            // The channel ends once its readings are read: the collector completed it.
        }

        await FluentActions.Awaiting(() => backend.DiscoverAsync(CancellationToken.None).AsTask().WaitAsync(Guard)).Should().ThrowAsync<ObjectDisposedException>();
        return snapshot;
    }
}
