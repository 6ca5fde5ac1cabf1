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
        var pick = default(Candidate);
        var single = request.DeviceCount == 1;
        if (!single)
        {
            _ = ResolvedRequest.Of(request, CurrentTable()); // checks the count before it sizes an array (cached on the request)
        }

        var chosen = single ? new Span<int>(ref slot) : new int[request.DeviceCount];
        var picks = single ? new Span<Candidate>(ref pick) : new Candidate[request.DeviceCount];
        if (!Reserve(request, chosen, picks, enqueue: false, out lease, out _))
        {
            return false;
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
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0027:API with optional parameter(s) should have the most parameters amongst its public overloads", Justification = "The timeout overload takes its token explicitly, as the planned API has it; the two cannot be confused (a TimeSpan is not a token).")]
    public ValueTask<GpuLease> AcquireAsync(GpuRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return AcquireCore(request, Timeout.InfiniteTimeSpan, cancellationToken);
    }

    /// <summary>
    /// Both <c>AcquireAsync</c> overloads, their arguments checked: grants at once when the request fits and nobody
    /// waits, else queues it with the caller's token and, unless <paramref name="timeout"/> is infinite, a deadline.
    /// </summary>
    private ValueTask<GpuLease> AcquireCore(GpuRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<GpuLease>(cancellationToken);
        }

        // A single-device request chooses into stack slots; only a gang needs arrays.
        var slot = 0;
        var pick = default(Candidate);
        var single = request.DeviceCount == 1;
        if (!single)
        {
            _ = ResolvedRequest.Of(request, CurrentTable()); // checks the count before it sizes an array (cached on the request)
        }

        var chosen = single ? new Span<int>(ref slot) : new int[request.DeviceCount];
        var picks = single ? new Span<Candidate>(ref pick) : new Candidate[request.DeviceCount];
        if (Reserve(request, chosen, picks, enqueue: true, out var lease, out var waiter))
        {
            _metrics.OnGranted(0);
            return new ValueTask<GpuLease>(lease);
        }

        waiter!.RegisterCancellation(_gate, static (state, token) => ((LeaseWaiter)state!).Owner.CancelWaiter((LeaseWaiter)state, token), cancellationToken);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            StartDeadline(waiter, timeout);
        }

        return new ValueTask<GpuLease>(waiter.Task);
    }

    /// <summary>
    /// Grants the request now if it fits and nobody waits; otherwise, with <paramref name="enqueue"/>, queues it. The
    /// devices are chosen by a scan outside the lock; under the lock only the choice is checked and recorded, in
    /// constant time: when no reservation changed since the scan began (the ledger's version), or the chosen devices'
    /// reservations are still what the scan saw (<see cref="Ranker.StillAsSeen"/>), the scan's choice stands. A chosen
    /// device whose reservations moved, a refusal made while reservations moved, or a new device set, starts the scan
    /// again; after
    /// <see cref="OptimisticAttempts"/> such races the scan runs under the lock, so a request always completes.
    /// </summary>
    /// <returns>Whether the lease was granted; when not, <paramref name="waiter"/> is the queued request (with <paramref name="enqueue"/>) or <see langword="null"/>.</returns>
    private bool Reserve(GpuRequest request, Span<int> chosen, Span<Candidate> picks, bool enqueue, out GpuLease lease, out LeaseWaiter? waiter)
    {
        for (var attempt = 0; ; attempt++)
        {
            ThrowIfShutdown();
            var table = CurrentTable();
            var resolved = ResolvedRequest.Of(request, table);
            if (enqueue && resolved.AllowedCount < request.DeviceCount)
            {
                throw Explainer.NoEligible(_explainer.Explain(request, table, resolved));
            }

            if (attempt >= OptimisticAttempts)
            {
                return ReserveLocked(request, chosen, enqueue, out lease, out waiter);
            }

            var version = _ledger.Version;
            var states = new LiveStates(_source);
            var scanned = _queue.IsEmpty;
            var fits = scanned && _ranker.TrySelect(states, request, resolved, table, chosen, advance: true, picks);
            lock (_gate)
            {
                ThrowIfShutdown();
                if (!ReferenceEquals(_table, table))
                {
                    continue; // the device set changed under the scan
                }

                if (!_queue.IsEmpty)
                {
                    lease = default;
                    waiter = enqueue ? EnqueueLocked(request, resolved) : null;
                    return false; // FIFO: a request never overtakes one that waits
                }

                var unchanged = _ledger.Version == version;
                if (fits && (unchanged || _ranker.StillAsSeen(picks)))
                {
                    lease = _ledger.Grant(table, request.MemoryBytes, chosen);
                    waiter = null;
                    return true;
                }

                if (scanned && !fits && unchanged)
                {
                    // No reservation moved since the scan began: it does not fit now.
                    lease = default;
                    waiter = enqueue ? EnqueueLocked(request, resolved) : null;
                    return false;
                }
            }
        }
    }

    /// <summary>The fallback of <see cref="Reserve"/> after repeated races: selects and grants (or queues) under the lock.</summary>
    private bool ReserveLocked(GpuRequest request, Span<int> chosen, bool enqueue, out GpuLease lease, out LeaseWaiter? waiter)
    {
        lock (_gate)
        {
            ThrowIfShutdown();
            var table = CurrentTable();
            var resolved = ResolvedRequest.Of(request, table);
            if (_queue.IsEmpty && _ranker.TrySelect(new LiveStates(_source), request, resolved, table, chosen, advance: true))
            {
                lease = _ledger.Grant(table, request.MemoryBytes, chosen);
                waiter = null;
                return true;
            }

            lease = default;
            waiter = enqueue ? EnqueueLocked(request, resolved) : null;
            return false;
        }
    }

    /// <summary>Queues a request (under the lock).</summary>
    private LeaseWaiter EnqueueLocked(GpuRequest request, ResolvedRequest resolved)
    {
        var waiter = new LeaseWaiter(this, request, _time.GetTimestamp());
        _queue.Enqueue(waiter, resolved);
        return waiter;
    }

    /// <summary>The lease accounting now: per device reserved bytes, active leases and waiters, and the lease counters.</summary>
    /// <returns>A consistent snapshot (taken under the selector's lock). Works after shutdown too, to watch leases drain.</returns>
    public GpuLeaseSnapshot GetSnapshot()
    {
        lock (_gate)
        {
            var table = Volatile.Read(ref _table);
            return _ledger.Snapshot(table, _queue.WaitersBySlot(table), _queue.Count);
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
        int revoked, waiterCount;
        lock (_gate)
        {
            if (_shutdown)
            {
                return;
            }

            Volatile.Write(ref _shutdown, true);
            waiters = _queue.RemoveAll(out waiterCount);
            revoked = _ledger.RevokeAll();
        }

        for (var w = waiters; w is not null; w = w.Next)
        {
            w.Registration.Unregister();
            w.DropDeadline();
            w.TrySetException(new ObjectDisposedException(nameof(DeviceSelector), "The GPU cluster is shutting down."));
        }

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
            task = _ledger.WhenDrained();
        }

        return task.IsCompleted ? task : task.WaitAsync(cancellationToken);
    }

    /// <summary>Releases the grant <paramref name="generation"/> of <paramref name="core"/>; does nothing if it was released already.</summary>
    internal void Release(LeaseCore core, int generation)
    {
        CancellationTokenSource? own;
        bool revoked, serve;
        lock (_gate)
        {
            if (!_ledger.Release(core, generation, out revoked, out own))
            {
                return;
            }

            serve = !_queue.IsEmpty;
            if (!serve)
            {
                _ledger.SignalIfDrained();
            }
        }

        own?.Dispose();
        _metrics.OnReleased(revoked);
        if (serve)
        {
            Pump();
        }
    }

    /// <summary>
    /// Grants waiting requests from the head of the queue while they fit (strict FIFO: stops at the first that does
    /// not). One thread pumps at a time; a call while another pumps asks it to look again and returns. Each head is
    /// chosen for by a scan outside the lock and granted under it after the same constant-time check as
    /// <see cref="Reserve"/>; the pump ends when the head does not fit and nothing moved since its scan began.
    /// </summary>
    private void Pump()
    {
        lock (_gate)
        {
            if (_queue.IsEmpty || _shutdown)
            {
                _ledger.SignalIfDrained();
                return;
            }

            if (_pumping)
            {
                _pumpAgain = true;
                return;
            }

            _pumping = true;
        }

        while (PumpOne())
        {
        }
    }

    /// <summary>One step of <see cref="Pump"/> (the pumping thread only): tries to grant the head.</summary>
    /// <returns>Whether to go on (<see langword="false"/>: the pump has ended and <see cref="_pumping"/> is cleared).</returns>
    private bool PumpOne()
    {
        LeaseWaiter waiter;
        SlotTable table;
        long version;
        lock (_gate)
        {
            if (_queue.Head is not { } head || _shutdown)
            {
                _pumping = false;
                _ledger.SignalIfDrained();
                return false;
            }

            waiter = head;
            table = CurrentTable();
            version = _ledger.Version;
            _pumpAgain = false;
        }

        var request = waiter.Request;
        ResolvedRequest resolved;
        try
        {
            resolved = ResolvedRequest.Of(request, table);
        }
        catch (ArgumentException e)
        {
            // The device set changed under a waiting request so that it no longer makes sense.
            bool removed;
            lock (_gate)
            {
                removed = waiter.Queued;
                if (removed)
                {
                    _queue.Remove(waiter);
                }
            }

            if (removed)
            {
                waiter.Registration.Unregister();
                waiter.DropDeadline();
                SchedulingLog.WaiterFailed(_logger, e.Message);
                waiter.TrySetException(e);
            }

            return true;
        }

        if (_scratch.Length < request.DeviceCount)
        {
            _scratch = new int[Math.Max(request.DeviceCount, _scratch.Length * 2)];
        }

        if (_scratchPicks.Length < request.DeviceCount)
        {
            _scratchPicks = new Candidate[_scratch.Length];
        }

        var chosen = _scratch.AsSpan(0, request.DeviceCount);
        var picks = _scratchPicks.AsSpan(0, request.DeviceCount);
        var fits = _ranker.TrySelect(new LiveStates(_source), request, resolved, table, chosen, advance: true, picks);
        GpuLease lease;
        lock (_gate)
        {
            if (_shutdown || !ReferenceEquals(_queue.Head, waiter) || !ReferenceEquals(_table, table))
            {
                return true; // the head or the device set moved: look again
            }

            var unchanged = _ledger.Version == version;
            if (!fits || !(unchanged || _ranker.StillAsSeen(picks)))
            {
                if (unchanged && !_pumpAgain)
                {
                    // The head does not fit, and nothing moved since the scan began: wait for the next release or change.
                    _pumping = false;
                    _ledger.SignalIfDrained();
                    return false;
                }

                return true;
            }

            lease = _ledger.Grant(table, request.MemoryBytes, chosen);
            _queue.Remove(waiter);
        }

        waiter.Registration.Unregister();
        waiter.DropDeadline();
        _metrics.OnGranted(_time.GetElapsedTime(waiter.EnqueuedTimestamp).TotalSeconds);
        waiter.TrySetResult(lease);
        return true;
    }

    private void CancelWaiter(LeaseWaiter waiter, CancellationToken token)
    {
        bool removed, wasHead = false;
        lock (_gate)
        {
            removed = waiter.Queued;
            if (removed)
            {
                wasHead = ReferenceEquals(_queue.Head, waiter);
                _queue.Remove(waiter);
            }
        }

        if (removed)
        {
            waiter.DropDeadline();
            OnAcquisitionAbandoned(timedOut: false);
            waiter.TrySetCanceled(token);
            if (wasHead)
            {
                Pump();
            }
        }
    }

    /// <summary>Serves waiters that fit now (the recheck timer, a device that became usable).</summary>
    private void OnRecheck() => Pump();

    /// <summary>Handles one health change: a device lost or unhealthy has its leases revoked; any other change may let waiters in.</summary>
    private void HandleHealthChange(GpuHealthChange change)
    {
        SchedulingLog.HealthChanged(_logger, change.Device, change.Previous, change.Current, change.Reason);
        var slot = CurrentTable().SlotOf(change.Device);
        if (slot < 0)
        {
            return;
        }

        if (change.Current is not (GpuHealth.Lost or GpuHealth.Unhealthy))
        {
            OnRecheck();
            return;
        }

        int count;
        lock (_gate)
        {
            if (_shutdown)
            {
                return;
            }

            count = _ledger.RevokeSlot(slot);
        }

        if (count > 0)
        {
            _metrics.Revoked.Add(count);
            SchedulingLog.LeasesRevoked(_logger, count, change.Device.ToString(), $"{change.Current}: {change.Reason}");
        }
    }
}
