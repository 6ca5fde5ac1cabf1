using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The lease accounting: grants, releases and revocations; the pooled <see cref="LeaseCore"/> records and their free
/// stack; the counters; the bytes reserved and the leases held per device; the per-device revocation tokens; and the
/// drain signal.
/// </summary>
/// <remarks>
/// <para>Not thread safe: every mutation runs under the selector's lock. <see cref="ReservedBytes"/> and
/// <see cref="LeaseCount"/> are also read without it (by selections that take no lease), so the per-device values
/// are written with <see cref="Volatile"/>.</para>
/// <para>Invariants, checked after every mutation in debug builds (<see cref="AssertInvariants"/>):
/// granted = released + revoked + active leases not revoked (a revoked lease is counted once, when revoked, and not
/// again when released); the active records' reservations add up to each device's reserved bytes and lease count;
/// no device is reserved beyond its capacity; every record is either active or on the free stack.</para>
/// </remarks>
[DebuggerDisplay("Active = {_activeCount}, Granted = {_granted}, Released = {_released}, Revoked = {_revoked}, Records = {_coreCount}")]
internal sealed class LeaseLedger
{
    /// <summary>The selector whose leases these are (the records release through it, so that waiters are served).</summary>
    private readonly DeviceSelector _owner;

    /// <summary>
    /// Every lease record ever created, held or free (the first <see cref="_coreCount"/> entries): revocation scans
    /// them for held ones, so granting and releasing keep no list of their own.
    /// </summary>
    private LeaseCore[] _cores = new LeaseCore[16];

    /// <summary>How many entries of <see cref="_cores"/> are used.</summary>
    private int _coreCount;

    /// <summary>
    /// Free lease records, a stack (the first <see cref="_freeCount"/> entries): released records are reused, and a
    /// stale handle is rejected by its generation. Entries above the count are stale and never read.
    /// </summary>
    private LeaseCore[] _free = new LeaseCore[16];

    /// <summary>How many entries of <see cref="_free"/> are free records.</summary>
    private int _freeCount;

    /// <summary>Leases granted and not yet released (revoked ones included).</summary>
    private int _activeCount;

    /// <summary>Leases granted since the selector was created.</summary>
    private long _granted;

    /// <summary>Leases released by their holders before being revoked.</summary>
    private long _released;

    /// <summary>Leases revoked (counted when revoked; not counted again when their holders release them).</summary>
    private long _revoked;

    /// <summary>The number of the last lease granted.</summary>
    private long _nextId;

    /// <summary>
    /// Moves on after every change to the per-device reservations (grant, release, a new device set), written after
    /// the change: a scan made outside the lock that read the same version before it began and under the lock after it
    /// ended saw the reservations as they still are.
    /// </summary>
    private long _version;

    /// <summary>The device set the accounting covers now (its capacities and one-device lists).</summary>
    private SlotTable _table;

    /// <summary>Per slot: bytes reserved by active leases (revoked ones included until released).</summary>
    private long[] _reserved;

    /// <summary>Per slot: active leases (revoked ones included until released).</summary>
    private int[] _leases;

    /// <summary>
    /// Per slot: the capacity the slot's reservations were granted within: its capacity now, or, while leases granted
    /// before its capacity shrank (a device that rejoined smaller) are still held, the larger capacity they were granted
    /// under. The bound of the no-oversubscription invariant.
    /// </summary>
    private long[] _limit;

    /// <summary>
    /// Whether some slot's <see cref="_limit"/> is above its capacity (a device rejoined smaller while leases were
    /// held): only then does a release that empties a slot lower the slot's bound, so the common release pays nothing.
    /// </summary>
    private bool _limitRaised;

    /// <summary>
    /// Per slot: the source of the token shared by every single-device lease granted on the device since its last
    /// revocation; created on first use, cancelled and cleared when the device's leases are revoked.
    /// </summary>
    private CancellationTokenSource?[] _deviceTokens;

    /// <summary>Completed when the last active lease is released (created by <see cref="WhenDrained"/>, completed by <see cref="SignalIfDrained"/>).</summary>
    private TaskCompletionSource? _drained;

    public LeaseLedger(DeviceSelector owner, SlotTable table)
    {
        _owner = owner;
        _table = table;
        _reserved = new long[table.Count];
        _leases = new int[table.Count];
        _limit = [.. table.Capacity];
        _deviceTokens = new CancellationTokenSource?[table.Count];
    }

    /// <summary>Leases granted since the selector was created.</summary>
    public long Granted => _granted;

    /// <summary>Leases released by their holders before being revoked.</summary>
    public long Released => _released;

    /// <summary>Leases revoked.</summary>
    public long Revoked => _revoked;

    /// <summary>Leases not yet released (revoked ones included).</summary>
    public int ActiveCount => _activeCount;

    /// <summary>Every lease record, held or free (for revocation scans, the invariant check and tests).</summary>
    public ReadOnlySpan<LeaseCore> Records => _cores.AsSpan(0, _coreCount);

    /// <summary>Bytes reserved on a device by active leases; may be read without the lock.</summary>
    public long ReservedBytes(int slot) => Volatile.Read(ref _reserved[slot]);

    /// <summary>Active leases on a device; may be read without the lock.</summary>
    public int LeaseCount(int slot) => Volatile.Read(ref _leases[slot]);

    /// <summary>The reservations' version (see <see cref="_version"/>); may be read without the lock.</summary>
    public long Version => Volatile.Read(ref _version);

    /// <summary>
    /// Follows a new device set (slots are stable: the accounting carries over slot by slot, and new slots start
    /// empty). The per-device arrays are replaced, never shrunk, before the selector publishes the table, so a
    /// selection that reads the new table reads arrays that cover it.
    /// </summary>
    public void Attach(SlotTable table)
    {
        var slots = Math.Max(table.Count, _reserved.Length);
        if (slots > _reserved.Length)
        {
            var reserved = new long[slots];
            var leases = new int[slots];
            var limit = new long[slots];
            var tokens = new CancellationTokenSource?[slots];
            _reserved.CopyTo(reserved, 0);
            _leases.CopyTo(leases, 0);
            _limit.CopyTo(limit, 0);
            _deviceTokens.CopyTo(tokens, 0);
            _reserved = reserved;
            _leases = leases;
            _limit = limit;
            _deviceTokens = tokens;
        }

        _limitRaised = false;
        for (var slot = 0; slot < table.Count; slot++)
        {
            _limit[slot] = _leases[slot] == 0 ? table.Capacity[slot] : Math.Max(_limit[slot], table.Capacity[slot]);
            _limitRaised |= _limit[slot] > table.Capacity[slot];
        }

        _table = table;
        Bump();
        AssertInvariants();
    }

    /// <summary>Records a grant of <paramref name="memoryBytes"/> on each of the chosen slots of <paramref name="table"/> (the attached table).</summary>
    /// <returns>The lease handle.</returns>
    public GpuLease Grant(SlotTable table, long memoryBytes, ReadOnlySpan<int> chosen)
    {
        var core = _freeCount > 0 ? _free[--_freeCount] : NewCore();
        core.MemoryBytes = memoryBytes;
        core.Revoked = false;
        IReadOnlyList<GpuDevice> devices;
        CancellationToken token;
        if (chosen.Length == 1)
        {
            var slot = chosen[0];
            core.Slot = slot;
            core.Slots = null;
            Reserve(slot, memoryBytes);
            devices = table.Singles[slot];
            token = (_deviceTokens[slot] ??= new CancellationTokenSource()).Token;
        }
        else
        {
            var slots = chosen.ToArray();
            var list = new GpuDevice[slots.Length];
            for (var i = 0; i < slots.Length; i++)
            {
                Reserve(slots[i], memoryBytes);
                list[i] = table.Devices[slots[i]];
            }

            core.Slot = slots[0];
            core.Slots = slots;
            core.OwnCts = new CancellationTokenSource();
            devices = Array.AsReadOnly(list);
            token = core.OwnCts.Token;
        }

        // A reused record usually served the same device before: skip the stores (and their GC write barriers)
        // when nothing changed.
        if (!ReferenceEquals(core.Devices, devices))
        {
            core.Devices = devices;
        }

        if (core.Token != token)
        {
            core.Token = token;
        }

        _activeCount++;
        core.Id = ++_nextId;
        Volatile.Write(ref core.Active, true);
        _granted++;
        Bump();
        AssertInvariants();
        return new GpuLease(core, core.Generation);
    }

    /// <summary>Releases the grant <paramref name="generation"/> of <paramref name="core"/>, if it is still held.</summary>
    /// <param name="core">The record.</param>
    /// <param name="generation">The grant's generation.</param>
    /// <param name="revoked">Whether the lease had been revoked (then it was counted then, and is not counted as released).</param>
    /// <param name="tokenSource">A gang's own token source, to dispose outside the lock; <see langword="null"/> otherwise.</param>
    /// <returns>Whether this call released it (<see langword="false"/>: it was released already).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Release(LeaseCore core, int generation, out bool revoked, out CancellationTokenSource? tokenSource)
    {
        if (core.Generation != generation || !core.Active)
        {
            revoked = false;
            tokenSource = null;
            return false;
        }

        Volatile.Write(ref core.Generation, generation + 1);
        Volatile.Write(ref core.Active, false);
        if (core.Slots is { } slots)
        {
            foreach (var slot in slots)
            {
                Unreserve(slot, core.MemoryBytes);
            }
        }
        else
        {
            Unreserve(core.Slot, core.MemoryBytes);
        }

        _activeCount--;
        revoked = core.Revoked;
        if (!revoked)
        {
            _released++;
        }

        // A revoked gang's token source may still be running its callbacks: leave it to the collector.
        tokenSource = revoked ? null : core.OwnCts;
        if (core.Slots is not null)
        {
            core.OwnCts = null;
            core.Slots = null;
            core.Devices = [];
        }

        if (_freeCount == _free.Length)
        {
            Array.Resize(ref _free, _free.Length * 2);
        }

        _free[_freeCount++] = core;
        Bump();
        AssertInvariants();
        return true;
    }

    /// <summary>
    /// Completes the drain signal if no lease is active. The selector calls it after a release has served the waiters
    /// it could, so a release whose room goes at once to a waiter does not signal.
    /// </summary>
    public void SignalIfDrained()
    {
        if (_activeCount == 0 && _drained is { } drained)
        {
            _drained = null;
            drained.TrySetResult();
        }
    }

    /// <summary>Revokes every active lease on a device: marks and counts them, and fires their tokens.</summary>
    /// <returns>How many leases were revoked now.</returns>
    public int RevokeSlot(int slot)
    {
        var count = 0;
        for (var i = 0; i < _coreCount; i++)
        {
            var core = _cores[i];
            if (core.Active && !core.Revoked && core.Uses(slot))
            {
                core.Revoked = true;
                count++;
                _ = core.OwnCts?.CancelAsync();
            }
        }

        _revoked += count;
        if (_deviceTokens[slot] is { } cts)
        {
            // CancelAsync marks the token cancelled now and runs the holders' callbacks on the thread pool.
            _ = cts.CancelAsync();
            _deviceTokens[slot] = null;
        }

        AssertInvariants();
        return count;
    }

    /// <summary>Revokes every active lease (shutdown): marks and counts them, and fires every token.</summary>
    /// <returns>How many leases were revoked now.</returns>
    public int RevokeAll()
    {
        var count = 0;
        for (var i = 0; i < _coreCount; i++)
        {
            var core = _cores[i];
            if (core.Active && !core.Revoked)
            {
                core.Revoked = true;
                count++;
                _ = core.OwnCts?.CancelAsync();
            }
        }

        _revoked += count;
        for (var slot = 0; slot < _deviceTokens.Length; slot++)
        {
            _ = _deviceTokens[slot]?.CancelAsync();
            _deviceTokens[slot] = null;
        }

        AssertInvariants();
        return count;
    }

    /// <summary>The accounting now, for <see cref="DeviceSelector.GetSnapshot"/>.</summary>
    /// <param name="table">The current device set.</param>
    /// <param name="waiters">Per slot: queued requests the device could serve.</param>
    /// <param name="waiterCount">Queued requests.</param>
    public GpuLeaseSnapshot Snapshot(SlotTable table, int[] waiters, int waiterCount)
    {
        var devices = new GpuDeviceLeaseState[table.Count];
        for (var slot = 0; slot < devices.Length; slot++)
        {
            devices[slot] = new GpuDeviceLeaseState(table.Devices[slot], table.Capacity[slot], _reserved[slot], _leases[slot], waiters[slot]);
        }

        return new GpuLeaseSnapshot(devices, _granted, _released, _revoked, _activeCount, waiterCount);
    }

    /// <summary>A task that completes when no lease is active (at once when none is).</summary>
    public Task WhenDrained()
    {
        if (_activeCount == 0)
        {
            return Task.CompletedTask;
        }

        _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _drained.Task;
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> when an invariant does not hold (debug builds only; call under the lock).</summary>
    /// <exception cref="InvalidOperationException">The accounting is inconsistent; the message says how.</exception>
    [Conditional("DEBUG")]
    public void AssertInvariants()
    {
        if (FindViolation() is { } violation)
        {
            throw new InvalidOperationException("Lease ledger invariant violated: " + violation);
        }
    }

    /// <summary>The first invariant that does not hold, described, or <see langword="null"/> when all hold (call under the lock).</summary>
    public string? FindViolation()
    {
        var slots = _reserved.Length;
        var reserved = new long[slots];
        var leases = new int[slots];
        int active = 0, activeRevoked = 0;
        for (var i = 0; i < _coreCount; i++)
        {
            var core = _cores[i];
            if (!core.Active)
            {
                continue;
            }

            active++;
            activeRevoked += core.Revoked ? 1 : 0;
            if (core.Slots is { } gang)
            {
                foreach (var slot in gang)
                {
                    reserved[slot] += core.MemoryBytes;
                    leases[slot]++;
                }
            }
            else
            {
                reserved[core.Slot] += core.MemoryBytes;
                leases[core.Slot]++;
            }
        }

        if (active != _activeCount)
        {
            return Text($"{_activeCount} active leases are counted, but {active} records are active.");
        }

        if (_freeCount != _coreCount - active)
        {
            return Text($"{_freeCount} records are on the free stack, but {_coreCount - active} of {_coreCount} are not active.");
        }

        for (var i = 0; i < _freeCount; i++)
        {
            if (_free[i].Active)
            {
                return Text($"the free stack holds active lease {_free[i].Id}.");
            }
        }

        if (_granted != _released + _revoked + (active - activeRevoked))
        {
            return Text($"granted {_granted} ≠ released {_released} + revoked {_revoked} + active and not revoked {active - activeRevoked}.");
        }

        for (var slot = 0; slot < slots; slot++)
        {
            if (reserved[slot] != _reserved[slot] || leases[slot] != _leases[slot])
            {
                return Text($"slot {slot} accounts {_reserved[slot]} bytes in {_leases[slot]} leases, but its active records hold {reserved[slot]} bytes in {leases[slot]}.");
            }

            if (_reserved[slot] > _limit[slot])
            {
                return Text($"slot {slot} is over capacity: {_reserved[slot]} bytes reserved of {_limit[slot]}.");
            }
        }

        return null;

        static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Publishes a change to the reservations: after every write of it (see <see cref="_version"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Bump() => Volatile.Write(ref _version, _version + 1);

    private void Reserve(int slot, long bytes)
    {
        Volatile.Write(ref _reserved[slot], _reserved[slot] + bytes);
        Volatile.Write(ref _leases[slot], _leases[slot] + 1);
    }

    private void Unreserve(int slot, long bytes)
    {
        Volatile.Write(ref _reserved[slot], _reserved[slot] - bytes);
        Volatile.Write(ref _leases[slot], _leases[slot] - 1);
        if (_limitRaised && _leases[slot] == 0 && slot < _table.Count)
        {
            // The slot is empty: from now on its bound is its capacity now.
            _limit[slot] = _table.Capacity[slot];
        }
    }

    private LeaseCore NewCore()
    {
        var core = new LeaseCore(_owner);
        if (_coreCount == _cores.Length)
        {
            Array.Resize(ref _cores, _cores.Length * 2);
        }

        _cores[_coreCount++] = core;
        return core;
    }
}
