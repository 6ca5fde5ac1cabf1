namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// The GPUs of every host of an Orleans cluster as one pool, usable in silos and in <c>IClusterClient</c> apps: plans
/// on the directory's view, then reserves on the chosen hosts, which alone decide (a refusal carries a fresh report and
/// the pool tries the next candidate, a bounded number of times). Register it with <c>AddClusterGpuPool</c>.
/// </summary>
public interface IClusterGpuPool : IAsyncDisposable
{
    /// <summary>
    /// Acquires a cluster lease. A retried acquire with the same request id (also while the first is under way)
    /// returns the same lease; once released, an id is final. The pool and each host remember request ids, not the
    /// cluster as a whole: a retry through another pool (another process) gets the same part where it lands on the
    /// host that holds it, but may be planned onto another host and granted there too. Retry through the pool that
    /// asked, or release the id (<see cref="ReleaseAsync"/> finds it on any live host) before asking elsewhere.
    /// </summary>
    /// <param name="request">What is needed.</param>
    /// <param name="cancellationToken">Stops the attempt (a part reserved meanwhile expires on its host).</param>
    /// <returns>The lease.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The request id is empty, white space, longer than <see cref="ClusterGpuRequest.MaxRequestIdLength"/> or holds U+001F, or the placement is not defined.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The memory is negative, or the device count is not 1 to 1,024.</exception>
    /// <exception cref="InvalidOperationException">The request id was already released.</exception>
    /// <exception cref="ClusterCapacityException">No host, or set of hosts, granted the request within the bounded attempts.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    /// <exception cref="ObjectDisposedException">The pool was shut down.</exception>
    Task<ClusterLease> AcquireAsync(ClusterGpuRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Re-forms an <see cref="ClusterGpuRequest.Elastic"/> lease after its token fired: confirms the surviving parts
    /// with their hosts (one that no longer holds its part, or does not answer, counts as lost too), acquires only the
    /// lost devices anew with the lease's placement (never on a survivor's device; for
    /// <see cref="GangPlacement.StrictSpread"/>, only on hosts the survivors are not on), and returns a new lease over the survivors and the replacements, with a new token and
    /// the same request id. The old lease ends without releasing anything (its release then answers already
    /// released). A lease whose token has not fired is returned as it is; a retry returns the same new lease. When no
    /// replacement can be found the lease stays as it was, its survivors still held: try again later, or release it.
    /// </summary>
    /// <param name="lease">The elastic lease, as this pool returned it.</param>
    /// <param name="cancellationToken">Stops the attempt (a replacement reserved meanwhile expires on its host).</param>
    /// <returns>The re-formed lease.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="lease"/> is <see langword="null"/>.</exception>
    /// <exception cref="InvalidOperationException">The lease is not elastic, is released, was already re-acquired into another lease, or is not this pool's.</exception>
    /// <exception cref="ClusterCapacityException">No host, or set of hosts, granted the lost devices within the bounded attempts.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    /// <exception cref="ObjectDisposedException">The pool was shut down.</exception>
    Task<ClusterLease> ReacquireAsync(ClusterLease lease, CancellationToken cancellationToken = default);

    /// <summary>Releases a lease by request id: idempotent and final; a lease this pool does not hold is released on whichever live host holds it.</summary>
    /// <param name="requestId">The request id.</param>
    /// <param name="cancellationToken">Stops waiting for the hosts.</param>
    /// <returns>Released, already released, or unknown.</returns>
    /// <exception cref="ArgumentException"><paramref name="requestId"/> is null or empty.</exception>
    Task<ClusterReleaseResult> ReleaseAsync(string requestId, CancellationToken cancellationToken = default);

    /// <summary>The directory's view now: every live host's latest report, and the departed hosts.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>The view.</returns>
    Task<ClusterGpuView> GetViewAsync(CancellationToken cancellationToken = default);
}
