using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends;

/// <summary>
/// Discovers devices and reads their telemetry. The only part of the library that talks to drivers; in a running
/// cluster only the poller calls it.
/// </summary>
/// <remarks>
/// <para><b>Thread safety.</b> Every member may be called concurrently from several threads, including
/// <see cref="SampleAsync"/> for different devices at once.</para>
/// <para><b>Cancellation.</b> Every call honours its token: a call that cannot finish (a hung driver) returns
/// promptly with <see cref="OperationCanceledException"/> once the token fires.</para>
/// <para><b>What the library bounds.</b> The library never awaits backend code without a bound, and does not rely on
/// the backend honouring its token to keep that bound:
/// <list type="bullet">
/// <item><see cref="DiscoverAsync"/>: within <see cref="GpuClusteringOptions.DiscoveryTimeout"/> per backend (at the
/// start, in rediscovery and in <see cref="GpuClusteringManager.ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>); a discovery past it is a failed
/// discovery (<see cref="TimeoutException"/>).</item>
/// <item><see cref="SampleAsync"/>: within <see cref="Telemetry.TelemetryOptions.SampleTimeout"/>; a reading past it
/// is a failed reading.</item>
/// <item>During shutdown (after <see cref="GpuClusteringOptions.DrainTimeout"/>), the calls still in flight, the
/// event stream and <see cref="IAsyncDisposable.DisposeAsync"/>: all within one
/// <see cref="GpuClusteringOptions.StopTimeout"/>, so shutdown returns within the two together.</item>
/// </list>
/// A call past its bound has its token cancelled and is then abandoned: the library stops awaiting it, logs it, and
/// ignores whatever it returns or throws later. The clocks are the manager's <see cref="TimeProvider"/>.</para>
/// <para><b>What a backend must do.</b> Honour tokens promptly, and never block the caller's thread on the driver
/// (run blocking native calls on another thread and await them with the token, as <see cref="Nvml.NvmlGpuBackend"/>
/// does). Expect abandoned calls: a call may still be running when the next one, or disposal, begins, so do not pile up
/// a thread per call on a hung device (join the call in flight instead), and never let
/// <see cref="IAsyncDisposable.DisposeAsync"/> wait without a bound for a call hung in the driver (skip what cannot be
/// released safely, and say so in the log). After disposal, calls throw <see cref="ObjectDisposedException"/>.</para>
/// <para><b>Errors.</b>
/// <list type="bullet">
/// <item><see cref="GpuBackendUnavailableException"/>: the backend cannot work at all (native library missing, driver not loaded, discovery failed).</item>
/// <item><see cref="GpuDeviceLostException"/>: from <see cref="SampleAsync"/>, the device is gone; it stays gone until a later <see cref="DiscoverAsync"/> lists it again.</item>
/// <item><see cref="GpuSamplingException"/>: from <see cref="SampleAsync"/>, this reading failed; the device may work next time.</item>
/// <item><see cref="ObjectDisposedException"/>: the backend was disposed.</item>
/// </list>
/// A reading the device does not support is not an error: that value of the <see cref="GpuSample"/> is <see langword="null"/>.</para>
/// <para><b>Disposal.</b> <see cref="IAsyncDisposable.DisposeAsync"/> is idempotent and ends <see cref="WatchEventsAsync"/>.</para>
/// </remarks>
public interface IGpuBackend : IAsyncDisposable
{
    /// <summary>The backend's kind.</summary>
    GpuBackendKind Kind { get; }

    /// <summary>Lists the devices present now, ordered by <see cref="GpuDevice.Index"/>. Lost devices are not listed.</summary>
    /// <param name="cancellationToken">Cancels the discovery.</param>
    /// <returns>The devices, possibly none.</returns>
    /// <exception cref="GpuBackendUnavailableException">The backend cannot enumerate devices.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    /// <exception cref="ObjectDisposedException">The backend was disposed.</exception>
    ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken);

    /// <summary>Takes one reading of a device.</summary>
    /// <param name="device">A device returned by <see cref="DiscoverAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the reading (use it as the per-device timeout).</param>
    /// <returns>The reading, timestamped by the backend's clock.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="device"/> does not belong to this backend.</exception>
    /// <exception cref="GpuDeviceLostException">The device is lost.</exception>
    /// <exception cref="GpuSamplingException">The reading failed.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    /// <exception cref="ObjectDisposedException">The backend was disposed.</exception>
    ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken);

    /// <summary>
    /// Streams asynchronous device events (critical Xids, ECC errors, lost devices) as the backend observes them.
    /// A backend with no event source completes the sequence at once; otherwise it ends when the token fires or the
    /// backend is disposed.
    /// </summary>
    /// <param name="cancellationToken">Ends the stream.</param>
    /// <returns>The events, in the order observed.</returns>
    IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Lists the processes using a device now: pid, kind and GPU memory, with name and user where the operating system
    /// tells. Read only when a caller asks (never by the poller). The default says "not available".
    /// </summary>
    /// <param name="device">A device returned by <see cref="DiscoverAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The processes, ordered by pid, possibly none; <see langword="null"/> when the backend cannot list processes (e.g. a driver without the process calls).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="device"/> does not belong to this backend.</exception>
    /// <exception cref="GpuDeviceLostException">The device is lost.</exception>
    /// <exception cref="GpuSamplingException">The driver failed to list the processes.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    /// <exception cref="ObjectDisposedException">The backend was disposed.</exception>
    ValueTask<IReadOnlyList<GpuProcess>?> GetProcessesAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        cancellationToken.ThrowIfCancellationRequested();
        return new ValueTask<IReadOnlyList<GpuProcess>?>((IReadOnlyList<GpuProcess>?)null);
    }
}
