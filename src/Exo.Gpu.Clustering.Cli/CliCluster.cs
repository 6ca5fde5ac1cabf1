using System.Runtime.ExceptionServices;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>
/// How the commands reach the library: through its public front door only. <c>status</c> and <c>plan --by</c> read every
/// device once (<see cref="GpuClusteringManager.ReadOnceAsync"/>); <c>select</c> and <c>watch</c> start a manager
/// without its poller and read on demand.
/// </summary>
internal static class CliCluster
{
    /// <summary>Reads every device of <paramref name="selection"/> once (the backend is taken over and disposed).</summary>
    public static async Task<GpuClusterSnapshot> ReadOnceAsync(CliContext context, BackendSelection selection, CancellationToken cancellationToken)
    {
        try
        {
            return await GpuClusteringManager.ReadOnceAsync(Options(context, selection), cancellationToken).ConfigureAwait(false);
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
        var options = Options(context, selection);
        options.EnablePoller = false;
        options.RediscoveryInterval = null;
        options.KeepUnreadableDevices = true;
        configure(options);
        try
        {
            return await GpuClusteringManager.StartAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (GpuClusterStartException e)
        {
            throw Translate(e, selection);
        }
    }

    private static GpuClusteringOptions Options(CliContext context, BackendSelection selection)
    {
        var options = new GpuClusteringOptions { TimeProvider = context.Time, Telemetry = new TelemetryOptions() };
        options.Backends.Add(selection.Backend);
        return options;
    }

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
