using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Cli.Simulation;

/// <summary>
/// The simulated cluster seen only through its readings: its event stream stays silent. A lost device is then found
/// by the simulation's read at each whole simulated second, where the simulation waits for the consequences (leases
/// revoked), instead of by an event applied on the thread pool while the virtual clock is still firing that second's
/// timers, which would race the job stream and change the report from run to run.
/// </summary>
internal sealed class PolledOnlyBackend(IGpuBackend inner) : IGpuBackend
{
    public GpuBackendKind Kind => inner.Kind;

    public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken) => inner.DiscoverAsync(cancellationToken);

    public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken) => inner.SampleAsync(device, cancellationToken);

    public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Silent until the watcher stops (the manager's shutdown); ends without an event either way.
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), stopped).ConfigureAwait(false))
        {
            await stopped.Task.ConfigureAwait(false);
        }

        yield break;
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
