using System.Globalization;

namespace Exo.Gpu.Clustering.Scheduling;

public sealed partial class DeviceSelector
{
    /// <summary>
    /// The longest timeout <see cref="AcquireAsync(GpuRequest, TimeSpan, CancellationToken)"/> takes: 4,294,967,294 ms
    /// (about 49.7 days), the longest a timer waits. Use <see cref="Timeout.InfiniteTimeSpan"/> for no deadline.
    /// </summary>
    public static readonly TimeSpan MaxAcquireTimeout = TimeSpan.FromMilliseconds(uint.MaxValue - 1.0);

    /// <summary>
    /// Reserves capacity for a request, waiting in FIFO order until it fits or <paramref name="timeout"/> has passed on
    /// the selector's <see cref="TimeProvider"/>. A request that times out leaves the queue (nothing stays reserved, the
    /// requests behind it move up) and fails with <see cref="GpuLeaseTimeoutException"/>, which says why nothing fitted
    /// and where the request stood in the queue; <paramref name="cancellationToken"/> still cancels the wait with
    /// <see cref="OperationCanceledException"/>, so a server can tell "no capacity in time" from "the caller went away".
    /// </summary>
    /// <param name="request">What is needed.</param>
    /// <param name="timeout">
    /// How long to wait: <see cref="TimeSpan.Zero"/> (take it now or fail, as <see cref="TryAcquire"/> but with the
    /// exception's explanation) up to <see cref="MaxAcquireTimeout"/>, or <see cref="Timeout.InfiniteTimeSpan"/> (no
    /// deadline, as <see cref="AcquireAsync(GpuRequest, CancellationToken)"/>).
    /// </param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The lease. Completes synchronously, allocating nothing for a single-device request, when it fits at once.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or above <see cref="MaxAcquireTimeout"/>; or the request asks for more devices than the cluster has (the parameter name is <c>DeviceCount</c>).</exception>
    /// <exception cref="ArgumentException">The request names a device the cluster does not have, or its include and exclude lists leave too few devices (the parameter name is the property).</exception>
    /// <exception cref="NoEligibleGpuException">The request can never fit, whatever is released: too few devices pass its static constraints (name, compute capability, memory above capacity). Thrown at once, not after the timeout.</exception>
    /// <exception cref="GpuLeaseTimeoutException">The timeout passed before the lease was granted.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired before the lease was granted and before the timeout.</exception>
    /// <exception cref="ObjectDisposedException">The selector was shut down before the call, or while the request waited.</exception>
    public ValueTask<GpuLease> AcquireAsync(GpuRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(timeout, MaxAcquireTimeout);
        }

        return AcquireCore(request, timeout, cancellationToken);
    }

    /// <summary>
    /// The single place where a waiting acquisition ends without a lease because its caller's token fired or its
    /// timeout passed (not shutdown, not a request that can never fit): counts it in <c>exo.gpu.lease.abandoned</c>.
    /// </summary>
    /// <param name="timedOut">Whether the timeout passed (else the token fired).</param>
    private void OnAcquisitionAbandoned(bool timedOut)
    {
        if (timedOut)
        {
            _metrics.OnTimedOut();
        }
        else
        {
            _metrics.OnCancelled();
        }
    }

    /// <summary>Starts a queued waiter's deadline; a zero timeout times it out now.</summary>
    private void StartDeadline(LeaseWaiter waiter, TimeSpan timeout)
    {
        if (timeout == TimeSpan.Zero)
        {
            waiter.Timeout = timeout;
            TimeOutWaiter(waiter);
            return;
        }

        waiter.ArmDeadline(_gate, _time, timeout, static state => ((LeaseWaiter)state!).Owner.TimeOutWaiter((LeaseWaiter)state));
    }

    /// <summary>
    /// The deadline of a waiter passed: if it still waits, it leaves the queue (its place noted) and fails with
    /// <see cref="GpuLeaseTimeoutException"/>; when it was the head, the requests behind it are served.
    /// </summary>
    private void TimeOutWaiter(LeaseWaiter waiter)
    {
        int position, count;
        lock (_gate)
        {
            if (!waiter.Queued)
            {
                return; // granted, cancelled or failed first
            }

            position = _queue.PositionOf(waiter);
            count = _queue.Count;
            _queue.Remove(waiter);
        }

        waiter.Registration.Unregister();
        waiter.DropDeadline();
        var exception = TimedOut(waiter.Request, waiter.Timeout, position, count);
        OnAcquisitionAbandoned(timedOut: true);
        waiter.TrySetException(exception);
        if (position == 1)
        {
            Pump();
        }
    }

    /// <summary>The exception of a request that timed out: its place in the queue and why nothing fitted, judged now.</summary>
    private GpuLeaseTimeoutException TimedOut(GpuRequest request, TimeSpan timeout, int position, int count)
    {
        GpuSelectionExplanation? explanation = null;
        try
        {
            var table = CurrentTable();
            explanation = _explainer.Explain(request, table, ResolvedRequest.Of(request, table));
        }
        catch (ArgumentException)
        {
            // The device set changed under the waiting request so that it no longer makes sense: no verdicts to give.
        }

        var message = string.Create(CultureInfo.InvariantCulture, $"No lease within {timeout.TotalSeconds:0.###} s for the request ({request}): {Ordinal(position)} of {count} in the queue");
        if (explanation is null)
        {
            message += "; the device set changed while it waited.";
        }
        else if (explanation.Fits)
        {
            message += position > 1
                ? string.Create(CultureInfo.InvariantCulture, $"; it fits now, but {position - 1} earlier request{(position == 2 ? " waits" : "s wait")} ahead of it (FIFO: a later request never overtakes).")
                : "; it fits now: capacity freed as the deadline passed.";
        }
        else
        {
            var eligible = explanation.Devices.Count(d => d.Eligible);
            if (request.DeviceCount > 1)
            {
                message += string.Create(CultureInfo.InvariantCulture, $"; it needs {request.DeviceCount} devices, {eligible} {(eligible == 1 ? "is" : "are")} eligible");
            }

            message += explanation.Nearest is { } nearest
                ? $"; nearest: {nearest.Device}: {string.Join("; ", nearest.Reasons)}."
                : ".";
        }

        return new GpuLeaseTimeoutException(message, explanation, position, timeout);
    }

    /// <summary>1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ...</summary>
    private static string Ordinal(int n)
    {
        var suffix = (n % 100) is 11 or 12 or 13 ? "th" : (n % 10) switch { 1 => "st", 2 => "nd", 3 => "rd", _ => "th" };
        return n.ToString(CultureInfo.InvariantCulture) + suffix;
    }
}
