using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class LeaseLedgerTests
{
    private static readonly GpuRequest TenGiB = new() { MemoryBytes = 10 * GiB };

    [Fact]
    public void FindViolation_ConsistentLedger_ReturnsNull()
    {
        var selector = Selectors.Create(Uniform(2));
        selector.TryAcquire(TenGiB, out var lease).Should().BeTrue();
        selector.FindInvariantViolation().Should().BeNull();
        lease.Dispose();
        selector.FindInvariantViolation().Should().BeNull();
    }

    [Fact]
    public void FindViolation_RecordReservationCorrupted_NamesTheSlot()
    {
        var selector = Selectors.Create(Uniform(2));
        selector.TryAcquire(new GpuRequest { MemoryBytes = 10 * GiB, IncludeIndexes = [1] }, out _).Should().BeTrue();
        selector.Ledger.Records[0].MemoryBytes += GiB;
        selector.FindInvariantViolation().Should().Be($"slot 1 accounts {10 * GiB} bytes in 1 leases, but its active records hold {11 * GiB} bytes in 1.");
    }

    [Fact]
    public void FindViolation_RevokedWithoutCounting_NamesTheCounters()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(TenGiB, out _).Should().BeTrue();
        selector.Ledger.Records[0].Revoked = true;
        selector.FindInvariantViolation().Should().Be("granted 1 ≠ released 0 + revoked 0 + active and not revoked 0.");
    }

    [Fact]
    public async Task Attach_DeviceRejoinsSmallerWhileLeased_IsNoViolationAndNewGrantsFitTheNewCapacity()
    {
        var source = Uniform(2);
        var selector = Selectors.Create(source);
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }, out var big).Should().BeTrue();

        // The device comes back with 40 GiB (say, a MIG reconfiguration): the 70 GiB granted before stay reserved.
        source.Replace(0, Device(0, 40 * GiB));
        source.SetSample(0, Sample(40 * GiB));
        selector.Explain(new GpuRequest()).Devices[0].CapacityBytes.Should().Be(39 * GiB + (GiB / 2));
        selector.FindInvariantViolation().Should().BeNull("reservations granted within the earlier capacity are not an oversubscription");
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [0] }, out _).Should().BeFalse("nothing is free below the new capacity");

        await big.DisposeAsync();
        selector.FindInvariantViolation().Should().BeNull();
        selector.TryAcquire(new GpuRequest { MemoryBytes = 39 * GiB, IncludeIndexes = [0] }, out var fits).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { MemoryBytes = GiB, IncludeIndexes = [0] }, out _).Should().BeFalse();
        await fits.DisposeAsync();
        selector.FindInvariantViolation().Should().BeNull();
    }

#if DEBUG
    [Fact]
    public void AssertInvariants_ReservationCorrupted_ThrowsInvalidOperationException()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(TenGiB, out _).Should().BeTrue();
        selector.Ledger.Records[0].MemoryBytes = 20 * GiB;
        selector.Ledger.Invoking(l => l.AssertInvariants()).Should().Throw<InvalidOperationException>()
            .WithMessage("Lease ledger invariant violated: slot 0 accounts*");
    }

    [Fact]
    public void Release_AfterReservationCorrupted_ThrowsInvalidOperationException()
    {
        // Every mutation checks the invariants (in debug builds): the release after the corruption is what notices.
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(TenGiB, out var lease).Should().BeTrue();
        selector.Ledger.Records[0].MemoryBytes += GiB;
        lease.Invoking(l => l.Dispose()).Should().Throw<InvalidOperationException>()
            .WithMessage($"Lease ledger invariant violated: slot 0 accounts {-GiB} bytes in 0 leases, but its active records hold 0 bytes in 0.");
    }

    [Fact]
    public void Grant_AfterActiveCountCorrupted_ThrowsInvalidOperationException()
    {
        var selector = Selectors.Create(Uniform(1));
        selector.TryAcquire(TenGiB, out _).Should().BeTrue();
        selector.Ledger.Records[0].Active = false;
        selector.Invoking(s => s.TryAcquire(TenGiB, out _)).Should().Throw<InvalidOperationException>()
            .WithMessage("Lease ledger invariant violated: * active leases are counted, but * records are active.");
    }
#endif

    /// <summary>
    /// A seeded mix of single and gang grants (TryAcquire and AcquireAsync, some waiting, some cancelled), releases,
    /// revocations (devices lost) and recoveries: after every step the ledger's own invariants hold, and the snapshot
    /// agrees with what the test holds: granted = released + revoked + held and not revoked, and per device the held
    /// leases' reservations, never above capacity.
    /// </summary>
    [Fact]
    public async Task Ledger_RandomizedGrantsReleasesAndRevocations_KeepsEveryInvariant()
    {
        const int devices = 6;
        var random = new Random(20260102);
        var source = Uniform(devices);
        var selector = Selectors.Create(
            source,
            new DeviceSelectorOptions { MaxLeasesPerDevice = 4, WaitRecheckInterval = Timeout.InfiniteTimeSpan, Seed = 3 },
            new FakeTimeProvider());
        var held = new List<GpuLease>();
        var waiting = new List<(Task<GpuLease> Task, CancellationTokenSource Cancel)>();
        var lost = new bool[devices];

        for (var step = 0; step < 1500; step++)
        {
            var request = new GpuRequest
            {
                MemoryBytes = random.Next(0, 45) * GiB,
                DeviceCount = random.Next(4) == 0 ? random.Next(2, 4) : 1,
                Strategy = (GpuSelectionStrategy)random.Next(7),
            };
            switch (random.Next(10))
            {
                case 0 or 1 or 2:
                    if (selector.TryAcquire(request, out var lease))
                    {
                        held.Add(lease);
                    }

                    break;
                case 3 or 4:
                    var cancel = new CancellationTokenSource();
                    waiting.Add((selector.AcquireAsync(request, cancel.Token).AsTask(), cancel));
                    break;
                case 5 or 6 when held.Count > 0:
                    var index = random.Next(held.Count);
                    await held[index].DisposeAsync();
                    held.RemoveAt(index);
                    break;
                case 7 when waiting.Count > 0:
                    await waiting[random.Next(waiting.Count)].Cancel.CancelAsync();
                    break;
                case 8:
                    var slot = random.Next(devices);
                    lost[slot] = !lost[slot];
                    source.ChangeHealth(slot, lost[slot] ? GpuHealth.Lost : GpuHealth.Healthy);
                    await selector.WhenHealthChangesAppliedAsync(CancellationToken.None).WaitAsync(Selectors.Guard);
                    break;
                default:
                    break;
            }

            Harvest(waiting, held);
            Check(selector, held, step);
        }

        foreach (var (_, cancel) in waiting)
        {
            await cancel.CancelAsync();
        }

        Harvest(waiting, held);
        foreach (var lease in held)
        {
            await lease.DisposeAsync();
        }

        held.Clear();
        Check(selector, held, -1);
        var snapshot = selector.GetSnapshot();
        snapshot.Granted.Should().BePositive();
        snapshot.Revoked.Should().BePositive();
        snapshot.Granted.Should().Be(snapshot.Released + snapshot.Revoked);
        (snapshot.ActiveLeases, snapshot.Waiters).Should().Be((0, 0));
    }

    /// <summary>Moves granted waiters to the held list and drops cancelled ones (both complete inside the call that served or cancelled them).</summary>
    private static void Harvest(List<(Task<GpuLease> Task, CancellationTokenSource Cancel)> waiting, List<GpuLease> held)
    {
        for (var i = waiting.Count - 1; i >= 0; i--)
        {
            var (task, cancel) = waiting[i];
            if (!task.IsCompleted)
            {
                continue;
            }

            if (task.IsCompletedSuccessfully)
            {
                held.Add(task.Result);
            }
            else
            {
                task.IsCanceled.Should().BeTrue();
            }

            cancel.Dispose();
            waiting.RemoveAt(i);
        }
    }

    private static void Check(DeviceSelector selector, List<GpuLease> held, int step)
    {
        selector.FindInvariantViolation().Should().BeNull("step {0}", step);
        var snapshot = selector.GetSnapshot();
        var revokedHeld = held.Count(l => l.Token.IsCancellationRequested);
        snapshot.ActiveLeases.Should().Be(held.Count, "step {0}", step);
        snapshot.Granted.Should().Be(snapshot.Released + snapshot.Revoked + (held.Count - revokedHeld), "step {0}", step);
        for (var slot = 0; slot < snapshot.Devices.Count; slot++)
        {
            var device = snapshot.Devices[slot];
            var mine = held.Where(l => l.Devices.Any(d => d.Index == slot)).ToList();
            device.ReservedBytes.Should().Be(mine.Sum(l => l.MemoryBytes), "step {0}, slot {1}", step, slot);
            device.ActiveLeases.Should().Be(mine.Count, "step {0}, slot {1}", step, slot);
            device.ReservedBytes.Should().BeLessThanOrEqualTo(device.CapacityBytes);
            device.ActiveLeases.Should().BeLessThanOrEqualTo(4);
        }
    }
}
