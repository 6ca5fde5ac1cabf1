using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering;

public sealed partial class GpuClusteringManager
{
    /// <summary>
    /// Discovers devices again now: a new device joins, a lost device that is listed again rejoins with a fresh history,
    /// and a device no longer listed is marked lost (its leases are revoked). A device joins only once its first reading
    /// succeeds (or at once, under <see cref="GpuClusteringOptions.KeepUnreadableDevices"/>).
    /// </summary>
    /// <param name="cancellationToken">Cancels the discovery.</param>
    /// <returns>The devices that joined or rejoined.</returns>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    /// <exception cref="GpuBackendUnavailableException">Discovery failed (the backend's own exception, when it is not this type, is the inner exception), or did not finish within <see cref="GpuClusteringOptions.DiscoveryTimeout"/> (inner <see cref="TimeoutException"/>).</exception>
    /// <exception cref="OperationCanceledException">The token fired, or shutdown began during the discovery.</exception>
    public async Task<IReadOnlyList<GpuDevice>> RediscoverAsync(CancellationToken cancellationToken = default)
    {
        var parts = Enter(cancellationToken, out var linked);
        try
        {
            return await RediscoverCoreAsync(parts, linked.Token).ConfigureAwait(false);
        }
        finally
        {
            linked.Dispose();
            Exit();
        }
    }

    private async Task<IReadOnlyList<GpuDevice>> RediscoverCoreAsync(Components parts, CancellationToken cancellationToken)
    {
        var collector = parts.Collector;
        await _rediscovery.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (found, failed) = await DiscoverEachAsync(parts.Backend, cancellationToken).ConfigureAwait(false);
            var known = new Dictionary<string, bool>(StringComparer.Ordinal);
            foreach (var status in collector.GetStatuses())
            {
                known[status.Device.Uuid] = status.Health == GpuHealth.Lost;
            }

            var joined = new List<(GpuDevice Device, bool Rejoined)>();
            var listed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var device in found)
            {
                listed.Add(device.Uuid);
                var isKnown = known.TryGetValue(device.Uuid, out var lost);
                if (isKnown && !lost)
                {
                    continue;
                }

                var probe = await DeviceProbe.ReadAsync(parts.Backend, device, _options.Telemetry.SampleTimeout, _time, cancellationToken).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (probe.Result != PollResult.Sampled && !_options.KeepUnreadableDevices)
                {
                    ManagerLog.DeviceExcluded(_logger, device.Uuid, probe.Error!);
                    continue;
                }

                var slot = collector.AddOrRejoin(device);
                try
                {
                    RecordFirst(collector, slot, probe);
                }
                catch (GpuSampleValidationException)
                {
                    // The poller recorded a newer reading since the device rejoined: keep that one.
                }

                joined.Add((device, isKnown));
                ManagerLog.DeviceAdded(_logger, device.Uuid, isKnown);
            }

            foreach (var slot in collector.Slots)
            {
                // A backend whose discovery failed lists nothing, which does not mean its devices are gone.
                if (!slot.IsLost && !listed.Contains(slot.Device.Uuid) && !IsOwnedByAny(parts.Backend, slot.Device.Uuid, failed))
                {
                    ManagerLog.DeviceVanished(_logger, slot.Device.Uuid);
                    collector.MarkLost(slot.Index, "no longer discovered");
                }
            }

            foreach (var (device, rejoined) in joined)
            {
                Raise(DeviceAdded, new GpuDeviceEventArgs(device, rejoined, rejoined ? "discovered again after being lost" : "discovered"), nameof(DeviceAdded));
            }

            return [.. joined.Select(j => j.Device)];
        }
        finally
        {
            _rediscovery.Release();
        }
    }

    /// <summary>Discovers every backend (each within the discovery timeout); a failure is a <see cref="GpuBackendUnavailableException"/>, whatever the backend threw.</summary>
    private static async Task<(IReadOnlyList<GpuDevice> Devices, IReadOnlyCollection<IGpuBackend> Failed)> DiscoverEachAsync(
        CompositeGpuBackend backend, CancellationToken cancellationToken)
    {
        try
        {
            return await backend.DiscoverEachAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not (OperationCanceledException or ObjectDisposedException or GpuBackendUnavailableException))
        {
            throw new GpuBackendUnavailableException("Discovery failed: " + e.Message, e);
        }
    }

    private static bool IsOwnedByAny(CompositeGpuBackend backend, string uuid, IReadOnlyCollection<IGpuBackend> backends) =>
        backends.Count != 0 && backend.OwnerOf(uuid) is { } owner && backends.Contains(owner);

    private async Task RediscoverPeriodicallyAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false))
            {
                try
                {
                    // The loop starts at the end of the start, so the parts are set by its first tick.
                    await RediscoverCoreAsync(_parts!, _closing.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !_closing.IsCancellationRequested)
                {
                    ManagerLog.RediscoveryFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            // Shutdown.
        }
    }
}
