using System.Globalization;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering;

public sealed partial class GpuClusteringManager
{
    /// <summary>
    /// Lists the processes using a device now (pid, kind, GPU memory, name and user), asking the backend that discovered
    /// it. Read only when called: the poller never lists processes. The call is bounded by
    /// <see cref="Telemetry.TelemetryOptions.SampleTimeout"/> on the manager's clock; a backend that ignores its token is
    /// abandoned.
    /// </summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The processes, ordered by pid, possibly none; <see langword="null"/> when the backend cannot list processes (a driver without the process calls, a backend without the feature).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    /// <exception cref="GpuDeviceLostException">The device is lost.</exception>
    /// <exception cref="GpuSamplingException">The driver failed to list the processes.</exception>
    /// <exception cref="TimeoutException">The backend did not answer within the sample timeout.</exception>
    /// <exception cref="OperationCanceledException">The token fired, or shutdown began during the call.</exception>
    public async Task<IReadOnlyList<GpuProcess>?> GetProcessesAsync(string uuid, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        var parts = Enter(cancellationToken, out var linked);
        try
        {
            var device = parts.Collector.GetStatus(uuid).Device;
            var owner = parts.Backend.OwnerOf(uuid)
                ?? throw new ArgumentException($"Device {uuid} was not discovered by any backend.", nameof(uuid));
            using var call = CancellationTokenSource.CreateLinkedTokenSource(linked.Token);
            var pending = owner.GetProcessesAsync(device, call.Token);
            if (pending.IsCompleted)
            {
                return await pending.ConfigureAwait(false);
            }

            var task = pending.AsTask();
            var timeout = _options.Telemetry.SampleTimeout;
            try
            {
                return await task.WaitAsync(timeout, _time, linked.Token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await call.CancelAsync().ConfigureAwait(false);
                _ = task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                throw new TimeoutException(string.Create(
                    CultureInfo.InvariantCulture, $"Device {uuid}: no process list within {timeout.TotalMilliseconds:0} ms."));
            }
        }
        finally
        {
            linked.Dispose();
            Exit();
        }
    }
}
