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
        lock (_gate)
        {
            ThrowIfShutdown();
            var table = CurrentTable();
            var resolved = ResolvedRequest.Of(request, table);
            var chosen = request.DeviceCount == 1 ? new Span<int>(ref slot) : new int[request.DeviceCount]; // once the count is checked
            if (!_queue.IsEmpty || !_ranker.TrySelect(new LiveStates(_source), request, resolved, table, chosen, advance: true))
            {
                lease = default;
                return false;
            }

            lease = _ledger.Grant(table, request.MemoryBytes, chosen);
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
                var resolved = ResolvedRequest.Of(request, table);
                if (_queue.IsEmpty && _ranker.TrySelect(new LiveStates(_source), request, resolved, table, new Span<int>(ref slot), advance: true))
                {
                    var lease = _ledger.Grant(table, request.MemoryBytes, new ReadOnlySpan<int>(ref slot));
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
        LeaseWaiter waiter;
        GpuSelectionExplanation? impossible = null;
        lock (_gate)
        {
            ThrowIfShutdown();
            var table = CurrentTable();
            var resolved = ResolvedRequest.Of(request, table);
            var chosen = new int[request.DeviceCount]; // once the count is checked
            if (_queue.IsEmpty && _ranker.TrySelect(new LiveStates(_source), request, resolved, table, chosen, advance: true))
            {
                var lease = _ledger.Grant(table, request.MemoryBytes, chosen);
                _metrics.OnGranted(0);
                return new ValueTask<GpuLease>(lease);
            }

            if (resolved.AllowedCount < request.DeviceCount)
            {
                impossible = _explainer.Explain(request, table, resolved);
                waiter = null!;
            }
            else
            {
                waiter = new LeaseWaiter(this, request, _time.GetTimestamp());
                _queue.Enqueue(waiter);
            }
        }

        if (impossible is not null)
        {
            throw Explainer.NoEligible(impossible);
        }

        waiter.RegisterCancellation(_gate, static (state, token) => ((LeaseWaiter)state!).Owner.CancelWaiter((LeaseWaiter)state, token), cancellationToken);
        return new ValueTask<GpuLease>(waiter.Task);
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
        bool revoked;
        lock (_gate)
        {
            if (!_ledger.Release(core, generation, out revoked, out own))
            {
                return;
            }

            if (!_queue.IsEmpty)
            {
                PumpLocked();
            }

            _ledger.SignalIfDrained();
        }

        own?.Dispose();
        _metrics.OnReleased(revoked);
    }

    /// <summary>Grants waiting requests from the head of the queue while they fit (strict FIFO: stops at the first that does not).</summary>
    private void PumpLocked()
    {
        while (_queue.Head is { } waiter && !_shutdown)
        {
            var request = waiter.Request;
            var table = CurrentTable();
            ResolvedRequest resolved;
            try
            {
                resolved = ResolvedRequest.Of(request, table);
            }
            catch (ArgumentException e)
            {
                // The device set changed under a waiting request so that it no longer makes sense.
                _queue.Remove(waiter);
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
            if (!_ranker.TrySelect(new LiveStates(_source), request, resolved, table, chosen, advance: true))
            {
                return;
            }

            var lease = _ledger.Grant(table, request.MemoryBytes, chosen);
            _queue.Remove(waiter);
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
                var wasHead = ReferenceEquals(_queue.Head, waiter);
                _queue.Remove(waiter);
                if (wasHead && !_queue.IsEmpty)
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

    /// <summary>Serves waiters that fit now (the recheck timer, a device that became usable).</summary>
    private void OnRecheck()
    {
        lock (_gate)
        {
            if (!_queue.IsEmpty)
            {
                PumpLocked();
            }
        }
    }

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
