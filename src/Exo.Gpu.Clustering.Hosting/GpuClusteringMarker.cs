namespace Exo.Gpu.Clustering.Hosting;

/// <summary>Says that <c>AddGpuClustering</c> has registered its services (repeat calls register nothing more).</summary>
internal sealed class GpuClusteringMarker;
