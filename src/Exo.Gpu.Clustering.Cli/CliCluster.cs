using System.Runtime.ExceptionServices;
using Exo.Gpu.Clustering.Backends;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>
/// How the commands reach the library: through its public front door only. <c>status</c> and <c>plan --by</c> read every
/// device once (<see cref="GpuClusteringManager.ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>); <c>select</c> and <c>watch</c> start a manager
/// without its poller and read on demand.
/// </summary>
internal static class CliCluster
{
    /// <summary>Reads every device of <paramref name="selection"/> once (the backend is taken over and disposed).</summary>
    public static async Task<GpuClusterSnapshot> ReadOnceAsync(CliContext context, BackendSelection selection, CancellationToken cancellationToken)
    {
        try
        {
            return await GpuClusteringManager.ReadOnceAsync(new GpuClusteringOptions(), Services(context, selection), cancellationToken).ConfigureAwait(false);
        }
        catch (GpuClusterStartException e)
        {
            throw Translate(e, selection);
        }
    }

    /// <summary>
    /// Starts a manager over <paramref name="selection"/> that reads only when asked (no poller, no rediscovery) and keeps
    /// every discovered device, read or not, so each can be shown and explained.
    /// </summary>
    /// <exception cref="CliNoDeviceException">The backend found no device.</exception>
    public static async Task<GpuClusteringManager> StartOnDemandAsync(
        CliContext context, BackendSelection selection, Action<GpuClusteringOptions> configure, CancellationToken cancellationToken)
    {
        var options = new GpuClusteringOptions();
        options.EnablePoller = false;
        options.RediscoveryInterval = null;
        options.KeepUnreadableDevices = true;
        configure(options);
        try
        {
            return await GpuClusteringManager.StartAsync(options, Services(context, selection), cancellationToken).ConfigureAwait(false);
        }
        catch (GpuClusterStartException e)
        {
            throw Translate(e, selection);
        }
    }

    private static GpuClusteringServices Services(CliContext context, BackendSelection selection) =>
        new() { TimeProvider = context.Time, Backends = { selection.Backend } };

    /// <summary>A failed discovery is the backend's error (exit code 3 with its message); an empty one is "no device".</summary>
    private static CliNoDeviceException Translate(GpuClusterStartException e, BackendSelection selection)
    {
        if (e.InnerException is GpuBackendUnavailableException unavailable)
        {
            ExceptionDispatchInfo.Throw(unavailable);
        }

        return e is { Step: GpuClusterStartStep.Discovery, InnerException: null }
            ? new CliNoDeviceException($"the {selection.Name} backend found no device.")
            : new CliNoDeviceException(e.Message);
    }
}
