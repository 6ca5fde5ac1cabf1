using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering;

public sealed partial class GpuClusteringManager
{
    /// <summary>Stops the cluster (see the remarks of <see cref="GpuClusteringManager"/>). Idempotent and safe to call concurrently.</summary>
    /// <param name="cancellationToken">Stops this caller's wait; the shutdown itself goes on to the end (its drain is bounded by <see cref="GpuClusteringOptions.DrainTimeout"/>).</param>
    /// <returns>A task that completes when everything is stopped.</returns>
    /// <exception cref="OperationCanceledException">The token fired before the shutdown finished.</exception>
    public Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource? mine = null;
        TaskCompletionSource shutdown;
        Task? start;
        lock (_gate)
        {
            start = _start;
            if (_shutdown is null)
            {
                _shutdown = mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _state, Closing);
                _idle = _inFlight == 0 ? null : new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            shutdown = _shutdown;
        }

        if (mine is not null)
        {
            _ = RunShutdownAsync(mine, start);
        }

        return shutdown.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Stops the cluster and waits until it is stopped; the same as <see cref="ShutdownAsync"/> without a token.</summary>
    /// <returns>A task that completes when everything is stopped.</returns>
    public async ValueTask DisposeAsync() => await ShutdownAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task RunShutdownAsync(TaskCompletionSource done, Task? start)
    {
        try
        {
            ManagerLog.ShuttingDown(_logger);
            if (start is null)
            {
                // Never started: the given backends are still the manager's to dispose.
                await DisposeGivenAsync(_options, _services, _logger).ConfigureAwait(false);
            }
            else
            {
                if (!start.IsCompleted)
                {
                    // A start in progress sees the cancellation and disposes what it started, unless it had just finished.
                    await _closing.CancelAsync().ConfigureAwait(false);
                    await start.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
                }

                if (start.IsCompletedSuccessfully && !await StopAsync(_parts!).ConfigureAwait(false))
                {
                    // Something abandoned may still run and use these: leave them to the garbage collector.
                    ManagerLog.Stopped(_logger);
                    return;
                }
            }

            _closing.Dispose();
            _rediscovery.Dispose();
            ManagerLog.Stopped(_logger);
        }
#pragma warning disable CA1031 // Shutdown must complete for every caller whatever fails; the failure is logged.
        catch (Exception e)
#pragma warning restore CA1031
        {
            ManagerLog.StopFailed(_logger, nameof(GpuClusteringManager), e);
        }
        finally
        {
            done.TrySetResult();
        }
    }

    /// <summary>Stops a running cluster: revoke, drain, cancel, then stop the parts in reverse start order.</summary>
    /// <returns>Whether every part stopped within <see cref="GpuClusteringOptions.StopTimeout"/> (nothing was abandoned).</returns>
    private async Task<bool> StopAsync(Components parts)
    {
        // Before the first await, on the first caller's thread: when ShutdownAsync returns, waiting acquirers have
        // failed, every lease is revoked, and the drain deadline counts from this call on the manager's clock.
        var selector = parts.Selector;
        selector.BeginShutdown();
        using var drain = new CancellationTokenSource(_options.DrainTimeout, _time);
        await _closing.CancelAsync().ConfigureAwait(false);
        try
        {
            await selector.WhenDrainedAsync(drain.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            ManagerLog.DrainTimedOut(_logger, _options.DrainTimeout, selector.GetSnapshot().ActiveLeases);
        }

        Task idle;
        lock (_gate)
        {
            idle = _idle?.Task ?? Task.CompletedTask;
        }

        // Every step below may wait on backend code: they share one deadline (StopTimeout), after which what has not
        // stopped is logged and abandoned. Shutdown returns within DrainTimeout + StopTimeout.
        var steps = new Stack<Func<ValueTask>>();
        steps.Push(parts.Backend.DisposeAsync);
        steps.Push(async () => await parts.HealthPump.ConfigureAwait(false));
        steps.Push(parts.Collector.DisposeAsync);
        steps.Push(selector.DisposeAsync);
        steps.Push(parts.Poller.DisposeAsync);
        steps.Push(async () => await parts.RediscoveryLoop.ConfigureAwait(false));
        steps.Push(async () => await idle.ConfigureAwait(false));
        return await DisposeAllAsync(steps, _logger, _options.StopTimeout, _time).ConfigureAwait(false);
    }

    private async Task PumpHealthChangesAsync(System.Threading.Channels.ChannelReader<GpuHealthChange> changes)
    {
        await Task.Yield();
        await foreach (var change in changes.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            Raise(HealthChanged, new GpuHealthChangedEventArgs(change), nameof(HealthChanged));
            if (change.Current == GpuHealth.Lost && change.Previous != GpuHealth.Lost)
            {
                Raise(DeviceLost, new GpuDeviceEventArgs(change.Device, false, change.Reason), nameof(DeviceLost));
            }
        }
    }
}
