namespace Exo.Gpu.Clustering.Hosting.HealthChecks;

/// <summary>
/// What the GPU health check (<c>AddGpuClusteringHealthCheck</c>) requires of the cluster. Plain settable properties,
/// bindable from configuration; registered as named options under the check's name.
/// </summary>
public sealed class GpuClusteringHealthCheckOptions
{
    /// <summary>The default of <see cref="MinimumUsableDevices"/>: 1.</summary>
    public const int DefaultMinimumUsableDevices = 1;

    /// <summary>
    /// How many devices must be usable (<see cref="Devices.GpuHealth.Healthy"/> or
    /// <see cref="Devices.GpuHealth.Degraded"/>: they work) for the check not to fail; 0 or more, 1 by default. With
    /// fewer, the check reports its failure status (<see cref="Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy"/>
    /// unless the registration says otherwise).
    /// </summary>
    public int MinimumUsableDevices { get; set; } = DefaultMinimumUsableDevices;

    /// <summary>
    /// Whether a cluster of simulated devices counts as healthy (<see langword="true"/> by default, so development
    /// machines and CI without a GPU pass). Set it to <see langword="false"/> where real GPUs are required: a host that
    /// fell back to the simulated cluster then reports its failure status, with the fallback's reason.
    /// </summary>
    public bool SimulatedIsHealthy { get; set; } = true;
}
