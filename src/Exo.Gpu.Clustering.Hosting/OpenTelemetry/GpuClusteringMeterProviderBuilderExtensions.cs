using Exo.Gpu.Clustering;

namespace OpenTelemetry.Metrics;

/// <summary>Adds the GPU cluster's instruments to an OpenTelemetry meter provider.</summary>
public static class GpuClusteringMeterProviderBuilderExtensions
{
    /// <summary>
    /// Listens to the meter named <see cref="GpuClusteringManager.MeterName"/>: the device instruments, named by the
    /// OpenTelemetry hardware conventions (<c>hw.gpu.utilization</c>, <c>hw.gpu.memory.usage</c>/<c>.limit</c>,
    /// <c>hw.temperature</c>, <c>hw.power</c>, <c>hw.status</c>, <c>hw.errors</c>, tagged <c>hw.id</c>), and the
    /// scheduler's (<c>exo.gpu.lease.*</c>: grants, releases, revocations, abandoned waits, queue depth, wait time in
    /// seconds with bucket advice, active leases and reserved bytes per device).
    /// </summary>
    /// <param name="builder">The meter provider builder.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static MeterProviderBuilder AddGpuClusteringInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(GpuClusteringManager.MeterName);
    }
}
