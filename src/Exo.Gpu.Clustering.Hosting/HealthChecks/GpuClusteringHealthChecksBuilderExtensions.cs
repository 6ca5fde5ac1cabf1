using Exo.Gpu.Clustering;
using Exo.Gpu.Clustering.Hosting.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the GPU cluster's health check to a host's health checks.</summary>
public static class GpuClusteringHealthChecksBuilderExtensions
{
    /// <summary>The default name of the check: <c>gpu</c>.</summary>
    public const string DefaultName = "gpu";

    /// <summary>
    /// Adds a health check of the <see cref="GpuClusteringManager"/> registered in the container (by
    /// <c>AddGpuClustering</c>): <see cref="HealthStatus.Healthy"/> when every device is healthy,
    /// <see cref="HealthStatus.Degraded"/> when some device is not (too hot, near its power limit, failing readings,
    /// lost…) but enough are usable, and <paramref name="failureStatus"/> when fewer than
    /// <see cref="GpuClusteringHealthCheckOptions.MinimumUsableDevices"/> are usable, when the devices are simulated
    /// and <see cref="GpuClusteringHealthCheckOptions.SimulatedIsHealthy"/> is off, or when the cluster has not started
    /// or is stopping. The result's data holds each device's health and its reason, by UUID.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name (<see cref="DefaultName"/> by default); also the name of its options.</param>
    /// <param name="configure">Sets the check's options; defaults when <see langword="null"/>. Options bound from configuration
    /// (<c>services.Configure&lt;GpuClusteringHealthCheckOptions&gt;(name, section)</c>) apply too.</param>
    /// <param name="failureStatus">The status of a failed check; <see cref="HealthStatus.Unhealthy"/> when <see langword="null"/>.</param>
    /// <param name="tags">Tags to filter checks by (e.g. <c>ready</c>); none when <see langword="null"/>.</param>
    /// <returns><paramref name="builder"/>.</returns>
    /// <remarks>
    /// The options are validated when the host starts (<c>ValidateOnStart</c>) and whenever the check runs: a negative
    /// <see cref="GpuClusteringHealthCheckOptions.MinimumUsableDevices"/> fails with a message naming it.
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    public static IHealthChecksBuilder AddGpuClusteringHealthCheck(
        this IHealthChecksBuilder builder,
        string name = DefaultName,
        Action<GpuClusteringHealthCheckOptions>? configure = null,
        HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var options = builder.Services.AddOptions<GpuClusteringHealthCheckOptions>(name);
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options
            .Validate(
                static o => o.MinimumUsableDevices >= 0,
                $"{nameof(GpuClusteringHealthCheckOptions.MinimumUsableDevices)} must be 0 or more.")
            .ValidateOnStart();
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => new GpuClusteringHealthCheck(
                sp.GetService<GpuClusteringManager>(),
                sp.GetRequiredService<IOptionsMonitor<GpuClusteringHealthCheckOptions>>(),
                name),
            failureStatus,
            tags));
    }
}
