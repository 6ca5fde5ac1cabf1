namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// A request waited for a lease longer than its timeout
/// (<see cref="DeviceSelector.AcquireAsync(GpuRequest, TimeSpan, CancellationToken)"/>) and left the queue without one.
/// The message says where it stood in the queue and why nothing fitted (the device closest to qualifying and its
/// reasons, or that it fitted but earlier requests waited ahead of it); <see cref="Explanation"/> holds every device's
/// verdict at the deadline.
/// </summary>
/// <remarks>
/// A <see cref="TimeoutException"/>, so code that handles timeouts in general handles this one. It is not an
/// <see cref="OperationCanceledException"/>: the caller's token still cancels with that, so a server can tell "no
/// capacity in time" (answer 503 and retry later) from "the client went away".
/// </remarks>
public sealed class GpuLeaseTimeoutException : TimeoutException
{
    /// <summary>Creates the exception.</summary>
    public GpuLeaseTimeoutException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public GpuLeaseTimeoutException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuLeaseTimeoutException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a request that timed out.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="explanation">Every device's verdict at the deadline, or <see langword="null"/> when the request could not be judged (the device set changed under it).</param>
    /// <param name="queuePosition">Its position in the queue at the deadline (1 is the head).</param>
    /// <param name="timeout">The timeout that passed.</param>
    internal GpuLeaseTimeoutException(string message, GpuSelectionExplanation? explanation, int queuePosition, TimeSpan timeout)
        : base(message)
    {
        Explanation = explanation;
        QueuePosition = queuePosition;
        Timeout = timeout;
    }

    /// <summary>
    /// Why nothing fitted: every device's verdict for the request at the deadline (with
    /// <see cref="GpuSelectionExplanation.Nearest"/> when no device fitted). <see cref="GpuSelectionExplanation.Fits"/>
    /// is <see langword="true"/> when the request fitted then but earlier requests waited ahead of it (leases are
    /// granted in FIFO order). <see langword="null"/> when not known.
    /// </summary>
    public GpuSelectionExplanation? Explanation { get; }

    /// <summary>The request's position in the wait queue at the deadline: 1 for the head (nothing waited ahead of it); 0 when not known.</summary>
    public int QueuePosition { get; }

    /// <summary>The timeout that passed, measured on the selector's <see cref="TimeProvider"/>.</summary>
    public TimeSpan Timeout { get; }
}
