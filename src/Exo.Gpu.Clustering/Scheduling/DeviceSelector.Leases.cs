using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Scheduling;

public sealed partial class DeviceSelector
{
    /// <summary>Reserves capacity for a request now if it fits, without waiting.</summary>
    /// <param name="request">What is needed.</param>
    /// <param name="lease">The lease when granted; <c>default</c> otherwise.</param>
    /// <returns>Whether the lease was granted. <see langword="false"/> when the request does not fit now, or when earlier requests wait (FIFO: a later request never overtakes them).</returns>
    /// <remarks>Allocates nothing for a single-device request (lease records are pooled); a gang lease allocates its device list and token source.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The request asks for more devices than the cluster has (the parameter name is <c>DeviceCount</c>).</exception>
    /// <exception cref="ArgumentException">The request names a device the cluster does not have, or its include and exclude lists leave too few devices (the parameter name is the property).</exception>
    /// <exception cref="ObjectDisposedException">The selector was shut down.</exception>
    public bool TryAcquire(GpuRequest request, out GpuLease lease)
    {
        ArgumentNullException.ThrowIfNull(request);
        var slot = 0;
        var chosen = request.DeviceCount == 1 ? new Span<int>(ref slot) : new int[request.DeviceCount];
        lock (_gate)
        {
            ThrowIfShutdown();
            var table = CurrentTable();
            var resolved = Resolve(request, table);
            if (_head is not null || !TrySelectCore(new LiveStates(_source), request, resolved, table, chosen, advance: true))
            {
                lease = default;
                return false;
            }

            lease = GrantLocked(table, request.MemoryBytes, chosen);
        }

        _metrics.OnGranted(null);
        return true;
    }

    /// <summary>
    /// Reserves capacity for a request, waiting in FIFO order until it fits. Cancel <paramref name="cancellationToken"/>
    /// to stop waiting (use <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/> for a timeout); a cancelled
    /// request leaves no reservation behind.
    /// </summary>
    /// <param name="request">What is needed.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The lease. Completes synchronously, allocating nothing for a single-device request, when it fits at once.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The request asks for more devices than the cluster has (the parameter name is <c>DeviceCount</c>).</exception>
    /// <exception cref="ArgumentException">The request names a device the cluster does not have, or its include and exclude lists leave too few devices (the parameter name is the property).</exception>
    /// <exception cref="NoEligibleGpuException">The request can never fit, whatever is released: too few devices pass its static constraints (name, compute capability, memory above capacity).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired before the lease was granted.</exception>
    /// <exception cref="ObjectDisposedException">The selector was shut down before the call, or while the request waited (waiting requests fail with this exception, not with <see cref="OperationCanceledException"/>, so callers can tell shutdown from their own cancellation).</exception>
    public ValueTask<GpuLease> AcquireAsync(GpuRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<GpuLease>(cancellationToken);
        }

        // The fast path (it fits now and nobody waits) is kept small; queuing is in AcquireSlow.
        if (request.DeviceCount == 1)
        {
            var slot = 0;
            lock (_gate)
            {
                ThrowIfShutdown();
                var table = CurrentTable();
                var resolved = Resolve(request, table);
                if (_head is null && TrySelectCore(new LiveStates(_source), request, resolved, table, new Span<int>(ref slot), advance: true))
                {
                    var lease = GrantLocked(table, request.MemoryBytes, new ReadOnlySpan<int>(ref slot));
                    _metrics.OnGranted(0);
                    return new ValueTask<GpuLease>(lease);
                }
            }
        }

        return AcquireSlow(request, cancellationToken);
    }

    /// <summary>Tries once more under the lock (a gang, or the fast path failed), then queues the request.</summary>
    private ValueTask<GpuLease> AcquireSlow(GpuRequest request, CancellationToken cancellationToken)
    {
        var chosen = new int[request.DeviceCount];
        LeaseWaiter waiter;
        GpuSelectionExplanation? impossible = null;
        lock (_gate)
        {
            ThrowIfShutdown();
            var table = CurrentTable();
            var resolved = Resolve(request, table);
            if (_head is null && TrySelectCore(new LiveStates(_source), request, resolved, table, chosen, advance: true))
            {
                var lease = GrantLocked(table, request.MemoryBytes, chosen);
                _metrics.OnGranted(0);
                return new ValueTask<GpuLease>(lease);
            }

            if (resolved.AllowedCount < request.DeviceCount)
            {
                impossible = ExplainCore(request, table, resolved);
                waiter = null!;
            }
            else
            {
                waiter = new LeaseWaiter(this, request, _time.GetTimestamp());
                EnqueueLocked(waiter);
            }
        }

        if (impossible is not null)
        {
            throw NoEligible(impossible);
        }

        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.UnsafeRegister(static (state, token) => ((LeaseWaiter)state!).Owner.CancelWaiter((LeaseWaiter)state, token), waiter);
            var stale = false;
            lock (_gate)
            {
                if (waiter.Queued)
                {
                    waiter.Registration = registration;
                }
                else
                {
                    stale = true;
                }
            }

            if (stale)
            {
                registration.Unregister();
            }
        }

        return new ValueTask<GpuLease>(waiter.Task);
    }

    /// <summary>The lease accounting now: per device reserved bytes, active leases and waiters, and the lease counters.</summary>
    /// <returns>A consistent snapshot (taken under the selector's lock). Works after shutdown too, to watch leases drain.</returns>
    public GpuLeaseSnapshot GetSnapshot()
    {
        lock (_gate)
        {
            var table = Volatile.Read(ref _table);
            var waiters = new int[table.Count];
            for (var w = _head; w is not null; w = w.Next)
            {
                if (w.Request.Resolved is { } resolved && ReferenceEquals(resolved.Table, table))
                {
                    for (var slot = 0; slot < waiters.Length; slot++)
                    {
                        waiters[slot] += resolved.Allowed[slot] ? 1 : 0;
                    }
                }
            }

            var devices = new GpuDeviceLeaseState[table.Count];
            for (var slot = 0; slot < devices.Length; slot++)
            {
                devices[slot] = new GpuDeviceLeaseState(table.Devices[slot], table.Capacity[slot], table.Reserved[slot], table.Leases[slot], waiters[slot]);
            }

            return new GpuLeaseSnapshot(devices, _granted, _released, _revoked, _activeCount, _waiters);
        }
    }

    /// <summary>
    /// Begins shutdown (for the cluster manager): nothing more is granted (new calls throw
    /// <see cref="ObjectDisposedException"/>), waiting requests fail with <see cref="ObjectDisposedException"/>, and
    /// every active lease is revoked (its token fires). Holders still release their leases; await
    /// <see cref="WhenDrainedAsync"/> for that. Idempotent.
    /// </summary>
    internal void BeginShutdown()
    {
        LeaseWaiter? waiters;
        var revoked = 0;
        var waiterCount = 0;
        lock (_gate)
        {
            if (_shutdown)
            {
                return;
            }

            Volatile.Write(ref _shutdown, true);
            waiters = _head;
            for (var w = _head; w is not null; w = w.Next)
            {
                w.Queued = false;
                waiterCount++;
            }

            _head = _tail = null;
            _waiters = 0;
            _recheckTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            for (var i = 0; i < _coreCount; i++)
            {
                var core = _cores[i];
                if (core.Active && !core.Revoked)
                {
                    core.Revoked = true;
                    revoked++;
                    _ = core.OwnCts?.CancelAsync();
                }
            }

            _revoked += revoked;
            var table = _table;
            for (var slot = 0; slot < table.DeviceCts.Length; slot++)
            {
                _ = table.DeviceCts[slot]?.CancelAsync();
                table.DeviceCts[slot] = null;
            }
        }

        for (var w = waiters; w is not null; w = w.Next)
        {
            w.Registration.Unregister();
            w.TrySetException(new ObjectDisposedException(nameof(DeviceSelector), "The GPU cluster is shutting down."));
        }

        _metrics.QueueDepth.Add(-waiterCount);
        _metrics.Revoked.Add(revoked);
        SchedulingLog.ShuttingDown(_logger, waiterCount, revoked);
    }

    /// <summary>Completes when every lease has been released (for the cluster manager's shutdown).</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when no lease is active.</returns>
    internal Task WhenDrainedAsync(CancellationToken cancellationToken)
    {
        Task task;
        lock (_gate)
        {
            if (_activeCount == 0)
            {
                return Task.CompletedTask;
            }

            _drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            task = _drained.Task;
        }

        return task.WaitAsync(cancellationToken);
    }

    /// <summary>Releases the grant <paramref name="generation"/> of <paramref name="core"/>; does nothing if it was released already.</summary>
    internal void Release(LeaseCore core, int generation)
    {
        CancellationTokenSource? own;
        bool revoked;
        lock (_gate)
        {
            if (core.Generation != generation || !core.Active)
            {
                return;
            }

            Volatile.Write(ref core.Generation, generation + 1);
            Volatile.Write(ref core.Active, false);
            var table = _table;
            if (core.Slots is { } slots)
            {
                foreach (var slot in slots)
                {
                    Unreserve(table, slot, core.MemoryBytes);
                }
            }
            else
            {
                Unreserve(table, core.Slot, core.MemoryBytes);
            }

            _activeCount--;
            revoked = core.Revoked;
            if (!revoked)
            {
                _released++;
            }

            // A revoked gang's token source may still be running its callbacks: leave it to the collector.
            own = revoked ? null : core.OwnCts;
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
            if (_head is not null)
            {
                PumpLocked();
            }

            if (_activeCount == 0 && _drained is { } drained)
            {
                _drained = null;
                drained.TrySetResult();
            }
        }

        own?.Dispose();
        _metrics.OnReleased(revoked);
    }

    private static void Reserve(DeviceTable table, int slot, long bytes)
    {
        Volatile.Write(ref table.Reserved[slot], table.Reserved[slot] + bytes);
        Volatile.Write(ref table.Leases[slot], table.Leases[slot] + 1);
    }

    private static void Unreserve(DeviceTable table, int slot, long bytes)
    {
        Volatile.Write(ref table.Reserved[slot], table.Reserved[slot] - bytes);
        Volatile.Write(ref table.Leases[slot], table.Leases[slot] - 1);
    }

    /// <summary>Records a grant on the chosen slots (under <see cref="_gate"/>).</summary>
    private GpuLease GrantLocked(DeviceTable table, long memoryBytes, ReadOnlySpan<int> chosen)
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
            Reserve(table, slot, memoryBytes);
            devices = table.Singles[slot];
            token = (table.DeviceCts[slot] ??= new CancellationTokenSource()).Token;
        }
        else
        {
            var slots = chosen.ToArray();
            var list = new GpuDevice[slots.Length];
            for (var i = 0; i < slots.Length; i++)
            {
                Reserve(table, slots[i], memoryBytes);
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
        return new GpuLease(core, core.Generation);
    }

    private LeaseCore NewCore()
    {
        var core = new LeaseCore(this);
        if (_coreCount == _cores.Length)
        {
            Array.Resize(ref _cores, _cores.Length * 2);
        }

        _cores[_coreCount++] = core;
        return core;
    }

    private void EnqueueLocked(LeaseWaiter waiter)
    {
        waiter.Queued = true;
        waiter.Previous = _tail;
        if (_tail is null)
        {
            _head = waiter;
            if (_recheckInterval != Timeout.InfiniteTimeSpan)
            {
                _recheckTimer?.Change(_recheckInterval, _recheckInterval);
            }
        }
        else
        {
            _tail.Next = waiter;
        }

        _tail = waiter;
        _waiters++;
        _metrics.QueueDepth.Add(1);
    }

    private void DequeueLocked(LeaseWaiter waiter)
    {
        waiter.Queued = false;
        if (waiter.Previous is null)
        {
            _head = waiter.Next;
        }
        else
        {
            waiter.Previous.Next = waiter.Next;
        }

        if (waiter.Next is null)
        {
            _tail = waiter.Previous;
        }
        else
        {
            waiter.Next.Previous = waiter.Previous;
        }

        waiter.Previous = waiter.Next = null;
        _waiters--;
        _metrics.QueueDepth.Add(-1);
        if (_head is null)
        {
            _recheckTimer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Grants waiting requests from the head of the queue while they fit (strict FIFO: stops at the first that does not).</summary>
    private void PumpLocked()
    {
        while (_head is { } waiter && !_shutdown)
        {
            var request = waiter.Request;
            var table = CurrentTable();
            ResolvedRequest resolved;
            try
            {
                resolved = Resolve(request, table);
            }
            catch (ArgumentException e)
            {
                // The device set changed under a waiting request so that it no longer makes sense.
                DequeueLocked(waiter);
                waiter.Registration.Unregister();
                SchedulingLog.WaiterFailed(_logger, e.Message);
                waiter.TrySetException(e);
                continue;
            }

            if (_scratch.Length < request.DeviceCount)
            {
                _scratch = new int[Math.Max(request.DeviceCount, _scratch.Length * 2)];
            }

            var chosen = _scratch.AsSpan(0, request.DeviceCount);
            if (!TrySelectCore(new LiveStates(_source), request, resolved, table, chosen, advance: true))
            {
                return;
            }

            var lease = GrantLocked(table, request.MemoryBytes, chosen);
            DequeueLocked(waiter);
            waiter.Registration.Unregister();
            _metrics.OnGranted(_time.GetElapsedTime(waiter.EnqueuedTimestamp).TotalSeconds);
            waiter.TrySetResult(lease);
        }
    }

    private void CancelWaiter(LeaseWaiter waiter, CancellationToken token)
    {
        bool removed;
        lock (_gate)
        {
            removed = waiter.Queued;
            if (removed)
            {
                var wasHead = ReferenceEquals(_head, waiter);
                DequeueLocked(waiter);
                if (wasHead && _head is not null)
                {
                    PumpLocked();
                }
            }
        }

        if (removed)
        {
            waiter.TrySetCanceled(token);
        }
    }

    private void OnRecheck()
    {
        lock (_gate)
        {
            if (_head is not null)
            {
                PumpLocked();
            }
        }
    }

    /// <summary>
    /// The source's health-change handler: queues the change and returns at once (it never takes the selector's lock,
    /// so it cannot deadlock with a selection reading the source); the changes are processed in order on the thread pool.
    /// </summary>
    private void OnHealthChanged(GpuHealthChange change)
    {
        if (change is null || Volatile.Read(ref _shutdown))
        {
            return;
        }

        _healthChanges.Enqueue(change);
        if (Interlocked.CompareExchange(ref _processingHealth, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.ProcessHealthChanges(), this, preferLocal: false);
        }
    }

    /// <summary>
    /// Completes once every health change queued so far has been handled (leases revoked, waiters served), so a caller
    /// that just recorded readings sees their consequences (for the manager's refresh, and deterministic drivers).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the queue is empty and no change is being handled.</returns>
    internal async Task WhenHealthChangesAppliedAsync(CancellationToken cancellationToken)
    {
        while (!_healthChanges.IsEmpty || Volatile.Read(ref _processingHealth) != 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
        }
    }

    private void ProcessHealthChanges()
    {
        while (true)
        {
            while (_healthChanges.TryDequeue(out var change))
            {
                try
                {
                    HandleHealthChange(change);
                }
#pragma warning disable CA1031 // A thread-pool item must not throw: log and go on with the next change.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    SchedulingLog.HealthChangeFailed(_logger, e, change.Device.ToString());
                }
            }

            Volatile.Write(ref _processingHealth, 0);
            if (_healthChanges.IsEmpty || Interlocked.CompareExchange(ref _processingHealth, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private void HandleHealthChange(GpuHealthChange change)
    {
        SchedulingLog.HealthChanged(_logger, change.Device, change.Previous, change.Current, change.Reason);
        var table = CurrentTable();
        var slot = table.SlotOf(change.Device);
        if (slot < 0)
        {
            return;
        }

        if (change.Current is GpuHealth.Lost or GpuHealth.Unhealthy)
        {
            RevokeSlot(slot, change);
            return;
        }

        lock (_gate)
        {
            if (_head is not null)
            {
                PumpLocked();
            }
        }
    }

    /// <summary>Revokes every active lease on a device: marks and counts them, and fires their tokens.</summary>
    private void RevokeSlot(int slot, GpuHealthChange change)
    {
        var count = 0;
        lock (_gate)
        {
            if (_shutdown)
            {
                return;
            }

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
            var table = _table;
            if (table.DeviceCts[slot] is { } cts)
            {
                // CancelAsync marks the token cancelled now and runs the holders' callbacks on the thread pool.
                _ = cts.CancelAsync();
                table.DeviceCts[slot] = null;
            }
        }

        if (count > 0)
        {
            _metrics.Revoked.Add(count);
            SchedulingLog.LeasesRevoked(_logger, count, change.Device.ToString(), $"{change.Current}: {change.Reason}");
        }
    }
}
