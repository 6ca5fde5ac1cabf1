using System.Runtime.CompilerServices;

namespace Exo.Gpu.Clustering.Backends.Nvml;

public sealed partial class NvmlGpuBackend
{
    /// <inheritdoc />
    /// <remarks>
    /// Registers the devices of the latest discovery (discovering first if none ran) for critical Xid, double-bit and
    /// single-bit ECC events, masked by what each supports, and waits on <c>nvmlEventSetWait_v2</c> on a dedicated thread,
    /// at most <see cref="NvmlGpuBackendOptions.EventWaitTimeout"/> at a time. Timeouts are routine. The application-error
    /// Xids 13, 31, 43, 45, 68 and 109 are not reported. A wait that reports a lost GPU yields a
    /// <see cref="GpuDeviceEventKind.Lost"/> event for each watched device that answers <c>GPU_IS_LOST</c> (for all of them
    /// when none does), once per device. The sequence completes at once where the driver has no event API or no device
    /// can be watched; otherwise it ends, and the event set is freed, when the token fires
    /// (<see cref="OperationCanceledException"/>) or the backend is disposed (no exception).
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The backend was disposed before the enumeration began.</exception>
    /// <exception cref="GpuBackendUnavailableException">The first discovery failed.</exception>
    public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        var api = _nvml.Optional;
        if (!api.HasEvents)
        {
            NvmlLog.EventsUnavailable(_logger, "the driver does not export the NVML event API");
            yield break;
        }

        var table = Volatile.Read(ref _table) ?? await DiscoverTableAsync(cancellationToken).ConfigureAwait(false);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        Enter();
        NvmlEventWatcher? watcher;
        try
        {
            watcher = NvmlEventWatcher.Start(api, table.VisibleEntries, _eventWaitTimeout, _time, _logger, Exit, linked.Token);
        }
        catch
        {
            Exit();
            throw;
        }

        if (watcher is null)
        {
            yield break; // Start called Exit
        }

        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await watcher.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    yield break; // disposed
                }

                if (!more)
                {
                    yield break;
                }

                while (watcher.Reader.TryRead(out var item))
                {
                    yield return item;
                }
            }
        }
        finally
        {
            await linked.CancelAsync().ConfigureAwait(false);
            await watcher.Completion.ConfigureAwait(false);
        }
    }
}
