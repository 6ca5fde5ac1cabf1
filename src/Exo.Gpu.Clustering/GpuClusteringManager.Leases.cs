using Exo.Gpu.Clustering.Scheduling;

namespace Exo.Gpu.Clustering;

public sealed partial class GpuClusteringManager
{
    /// <summary>
    /// Reserves capacity, waiting in FIFO order until it fits or <paramref name="timeout"/> has passed on the manager's
    /// clock. See <see cref="DeviceSelector.AcquireAsync(GpuRequest, TimeSpan, CancellationToken)"/>.
    /// </summary>
    /// <param name="request">What is needed.</param>
    /// <param name="timeout">How long to wait: <see cref="TimeSpan.Zero"/> up to <see cref="DeviceSelector.MaxAcquireTimeout"/>, or <see cref="Timeout.InfiniteTimeSpan"/>.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The lease; dispose it to release.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than <see cref="Timeout.InfiniteTimeSpan"/>) or above <see cref="DeviceSelector.MaxAcquireTimeout"/>; or the request asks for more devices than exist.</exception>
    /// <exception cref="ArgumentException">The request is invalid for this cluster.</exception>
    /// <exception cref="NoEligibleGpuException">The request can never fit, whatever is released (thrown at once).</exception>
    /// <exception cref="GpuLeaseTimeoutException">The timeout passed first; the exception says why nothing fitted and where the request stood in the queue.</exception>
    /// <exception cref="OperationCanceledException">The token fired first; nothing stays reserved.</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped (also for a request waiting when shutdown begins).</exception>
    public ValueTask<GpuLease> AcquireAsync(GpuRequest request, TimeSpan timeout, CancellationToken cancellationToken) =>
        Open().Selector.AcquireAsync(request, timeout, cancellationToken);
}
