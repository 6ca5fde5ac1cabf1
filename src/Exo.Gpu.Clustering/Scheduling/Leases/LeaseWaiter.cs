namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// A request waiting in <see cref="DeviceSelector.AcquireAsync(GpuRequest, CancellationToken)"/>: a node of the <see cref="WaitQueue"/> and its
/// completion. Its links and <see cref="Queued"/> are set and cleared by the queue, under the selector's lock.
/// </summary>
/// <param name="owner">The selector it waits on.</param>
/// <param name="request">What it waits for.</param>
/// <param name="enqueuedTimestamp">When it was queued (<see cref="TimeProvider.GetTimestamp"/>).</param>
internal sealed class LeaseWaiter(DeviceSelector owner, GpuRequest request, long enqueuedTimestamp)
    : TaskCompletionSource<GpuLease>(TaskCreationOptions.RunContinuationsAsynchronously)
{
    /// <summary>The selector it waits on (its cancellation callback removes it there).</summary>
    public DeviceSelector Owner { get; } = owner;

    /// <summary>What it waits for.</summary>
    public GpuRequest Request { get; } = request;

    /// <summary>When it was queued (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    public long EnqueuedTimestamp { get; } = enqueuedTimestamp;

    /// <summary>The waiter queued before it, or <see langword="null"/> at the head.</summary>
    public LeaseWaiter? Previous;

    /// <summary>The waiter queued after it, or <see langword="null"/> at the tail.</summary>
    public LeaseWaiter? Next;

    /// <summary>Whether it is in the queue.</summary>
    public bool Queued;

    /// <summary>The resolution it is counted under in the queue's per-device waiter counts (set by the queue, while queued).</summary>
    public ResolvedRequest? Counted;

    /// <summary>The caller's token registration; unregistered (never waited for) when granted.</summary>
    public CancellationTokenRegistration Registration;

    /// <summary>
    /// The deadline's timer (<see cref="DeviceSelector.AcquireAsync(GpuRequest, TimeSpan, CancellationToken)"/>), or
    /// <see langword="null"/> without one; stored under the selector's lock while queued, disposed by whoever takes the
    /// waiter out of the queue (<see cref="DropDeadline"/>).
    /// </summary>
    public ITimer? Deadline;

    /// <summary>The timeout the deadline was set from (for the exception); <see cref="System.Threading.Timeout.InfiniteTimeSpan"/> without one.</summary>
    public TimeSpan Timeout = System.Threading.Timeout.InfiniteTimeSpan;

    /// <summary>
    /// Registers the caller's token (after queuing, outside <paramref name="gate"/>, as the callback may run at once):
    /// kept while the waiter is queued, dropped at once if it has already left the queue.
    /// </summary>
    /// <param name="gate">The selector's lock, under which <see cref="Queued"/> changes.</param>
    /// <param name="onCancel">Removes the waiter from the queue and cancels it.</param>
    /// <param name="cancellationToken">The caller's token.</param>
    public void RegisterCancellation(Lock gate, Action<object?, CancellationToken> onCancel, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return;
        }

        var registration = cancellationToken.UnsafeRegister(onCancel, this);
        lock (gate)
        {
            if (Queued)
            {
                Registration = registration;
                return;
            }
        }

        registration.Unregister();
    }

    /// <summary>
    /// Starts the deadline (after queuing, outside <paramref name="gate"/>, as the timer may fire at once): kept while
    /// the waiter is queued, disposed at once if it has already left the queue.
    /// </summary>
    /// <param name="gate">The selector's lock, under which <see cref="Queued"/> changes.</param>
    /// <param name="time">The selector's clock.</param>
    /// <param name="timeout">How long it may wait, more than 0.</param>
    /// <param name="onTimeout">Times the waiter out (its state is this waiter).</param>
    public void ArmDeadline(Lock gate, TimeProvider time, TimeSpan timeout, TimerCallback onTimeout)
    {
        Timeout = timeout;
        var timer = time.CreateTimer(onTimeout, this, timeout, System.Threading.Timeout.InfiniteTimeSpan);
        lock (gate)
        {
            if (Queued)
            {
                Deadline = timer;
                return;
            }
        }

        timer.Dispose();
    }

    /// <summary>Disposes the deadline's timer, if any (call once the waiter has left the queue: it is then never set again).</summary>
    public void DropDeadline() => Deadline?.Dispose();
}
