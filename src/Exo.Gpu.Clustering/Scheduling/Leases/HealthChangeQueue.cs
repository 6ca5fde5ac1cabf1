using System.Collections.Concurrent;
using System.Diagnostics;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The health changes the selector has been told of and not yet handled: posted without a lock (from the source's
/// event, which must be fast and must not take the selector's lock), handled one at a time, in order, by one
/// thread-pool work item at a time (or, deferred, by the next caller of <see cref="WhenAppliedAsync"/>, on its
/// thread), and signalled when all are handled (<see cref="WhenAppliedAsync"/>).
/// </summary>
[DebuggerDisplay("Pending = {_changes.Count}, Processing = {_processing}")]
internal sealed class HealthChangeQueue
{
    /// <summary>Handles one change (revokes leases, serves waiters).</summary>
    private readonly Action<GpuHealthChange> _handle;

    /// <summary>The scheduler's log (a handler that throws is logged, and the next change handled).</summary>
    private readonly ILogger _logger;

    /// <summary>Changes not yet handled, oldest first.</summary>
    private readonly ConcurrentQueue<GpuHealthChange> _changes = new();

    /// <summary>Guards <see cref="_applied"/>, so that a waiter never takes a signal meant for an earlier idle moment.</summary>
    private readonly Lock _signalGate = new();

    /// <summary>Whether changes wait for <see cref="WhenAppliedAsync"/>, which handles them on its caller's thread (no work item).</summary>
    private readonly bool _deferred;

    /// <summary>1 while a thread-pool work item (or, when deferred, a caller of <see cref="WhenAppliedAsync"/>) is handling <see cref="_changes"/>.</summary>
    private int _processing;

    /// <summary>
    /// Completed when the queue is next idle (empty, and no change being handled); created on demand by
    /// <see cref="WhenAppliedAsync"/>, under <see cref="_signalGate"/>.
    /// </summary>
    private TaskCompletionSource? _applied;

    /// <summary>Creates an empty queue.</summary>
    /// <param name="handle">Handles one change; an exception it throws is logged.</param>
    /// <param name="logger">The scheduler's log.</param>
    /// <param name="deferred">Whether changes wait for <see cref="WhenAppliedAsync"/> and are handled on its caller's thread, instead of on the thread pool at once.</param>
    public HealthChangeQueue(Action<GpuHealthChange> handle, ILogger logger, bool deferred = false)
    {
        _handle = handle;
        _logger = logger;
        _deferred = deferred;
    }

    /// <summary>Whether every change posted so far has been handled: nothing queued and nothing being handled.</summary>
    /// <remarks>
    /// The queue is read first: a change is dequeued only while <see cref="_processing"/> is 1, and it stays 1 until
    /// the change is handled, so seeing the queue empty and then no processing means every change posted before the
    /// first read has been handled.
    /// </remarks>
    private bool IsIdle => _changes.IsEmpty && Volatile.Read(ref _processing) == 0;

    /// <summary>Queues a change and makes sure a work item handles it; returns at once.</summary>
    public void Post(GpuHealthChange change)
    {
        _changes.Enqueue(change);
        if (!_deferred && Interlocked.CompareExchange(ref _processing, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Process(), this, preferLocal: false);
        }
    }

    /// <summary>Completes once every change posted before the call has been handled.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the queue is empty and no change is being handled (at once when it is so now).</returns>
    public Task WhenAppliedAsync(CancellationToken cancellationToken)
    {
        // Deferred: this is the defined point where the changes take effect, on the caller's thread, in order.
        if (_deferred && !_changes.IsEmpty && Interlocked.CompareExchange(ref _processing, 1, 0) == 0)
        {
            Process();
        }

        if (IsIdle)
        {
            return Task.CompletedTask;
        }

        Task task;
        lock (_signalGate)
        {
            // Checked again under the gate: the work item may have gone idle (and found no signal to complete)
            // between the check above and now. The signal taken here is completed only by an idle moment observed
            // under the gate after this point, so never by one that came before changes this caller waits for.
            if (IsIdle)
            {
                return Task.CompletedTask;
            }

            _applied ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            task = _applied.Task;
        }

        return task.WaitAsync(cancellationToken);
    }

    private void Process()
    {
        while (true)
        {
            while (_changes.TryDequeue(out var change))
            {
                try
                {
                    _handle(change);
                }
#pragma warning disable CA1031 // A thread-pool item must not throw: log and go on with the next change.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    SchedulingLog.HealthChangeFailed(_logger, e, change.Device.ToString());
                }
            }

            Volatile.Write(ref _processing, 0);
            if (_changes.IsEmpty || Interlocked.CompareExchange(ref _processing, 1, 0) != 0)
            {
                SignalIfIdle();
                return;
            }
        }
    }

    /// <summary>Completes the pending signal if the queue is idle now (if not, whoever handles the rest will).</summary>
    private void SignalIfIdle()
    {
        TaskCompletionSource? applied;
        lock (_signalGate)
        {
            if (_applied is null || !IsIdle)
            {
                return;
            }

            applied = _applied;
            _applied = null;
        }

        applied.TrySetResult();
    }
}
