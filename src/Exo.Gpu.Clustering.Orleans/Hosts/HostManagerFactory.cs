using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>
/// Builds a host's manager with the core's public API. The one place to switch to the hosting add-on's
/// <c>AddGpuClustering</c> (and its <c>GpuClusteringServices</c>) when it lands.
/// </summary>
internal static class HostManagerFactory
{
    public static GpuClusteringManager Create(GpuClusteringOptions options, ILoggerFactory loggers)
    {
        options.LoggerFactory ??= loggers;
        return new GpuClusteringManager(options);
    }
}
