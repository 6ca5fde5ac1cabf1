using Microsoft.Extensions.Hosting;

namespace Exo.Gpu.Clustering.Hosting;

/// <summary>
/// Starts the manager before any hosted service starts (<see cref="StartingAsync"/>) and shuts it down, drain included,
/// after every hosted service has stopped (<see cref="StoppedAsync"/>), whatever the registration order.
/// </summary>
internal sealed class GpuClusteringLifecycle : IHostedLifecycleService
{
    /// <summary>The manager.</summary>
    private readonly GpuClusteringManager _manager;

    public GpuClusteringLifecycle(GpuClusteringManager manager)
    {
        _manager = manager;
    }

    /// <summary>Starts the manager: discovery and first readings; a failure aborts the host's start.</summary>
    public Task StartingAsync(CancellationToken cancellationToken) => _manager.StartAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Shuts the manager down once every hosted service has stopped: leases still held are revoked and drained. When
    /// the host's stop token fires first (a forced stop), it stops waiting without an error, as hosted services do:
    /// the shutdown goes on, bounded by the drain and stop timeouts. A failure of a shutdown that ends in time surfaces.
    /// </summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        var shutdown = _manager.ShutdownAsync(CancellationToken.None);
        await shutdown.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (shutdown.IsCompleted)
        {
            await shutdown.ConfigureAwait(false);
        }
    }
}
