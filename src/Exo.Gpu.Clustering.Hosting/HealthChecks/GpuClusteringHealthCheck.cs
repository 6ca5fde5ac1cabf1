using System.Globalization;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Exo.Gpu.Clustering.Hosting.HealthChecks;

/// <summary>
/// Judges the GPU cluster as a whole: the failure status when the manager is not registered, not started or stopping,
/// when fewer devices than <see cref="GpuClusteringHealthCheckOptions.MinimumUsableDevices"/> are usable, or when the
/// devices are simulated and that is not allowed; <see cref="HealthStatus.Degraded"/> when any device is not
/// <see cref="GpuHealth.Healthy"/>; <see cref="HealthStatus.Healthy"/> otherwise. The result's data holds, per
/// device UUID, its health and why it is not healthy, and the counts the verdict was made from. Never throws for the
/// cluster's state; reads only what the collector already knows (no backend call).
/// </summary>
internal sealed class GpuClusteringHealthCheck : IHealthCheck
{
    private readonly GpuClusteringManager? _manager;
    private readonly IOptionsMonitor<GpuClusteringHealthCheckOptions> _optionsMonitor;
    private readonly string _name;

    /// <summary>Creates the check (one per run, by the health check service).</summary>
    /// <param name="manager">The registered manager, if any.</param>
    /// <param name="options">The checks' named options.</param>
    /// <param name="name">The name of this check's options.</param>
    public GpuClusteringHealthCheck(GpuClusteringManager? manager, IOptionsMonitor<GpuClusteringHealthCheckOptions> options, string name)
    {
        _manager = manager;
        _optionsMonitor = options;
        _name = name;
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var failure = context.Registration.FailureStatus;
        GpuClusteringHealthCheckOptions options;
        try
        {
            // Read here, not in the factory: the health check service lets a factory's exception out of every check.
            options = _optionsMonitor.Get(_name);
        }
        catch (OptionsValidationException e)
        {
            return Task.FromResult(new HealthCheckResult(failure, e.Message, e));
        }

        return Task.FromResult(Check(failure, options));
    }

    private HealthCheckResult Check(HealthStatus failure, GpuClusteringHealthCheckOptions options)
    {
        if (_manager is null)
        {
            return new HealthCheckResult(failure, "No GpuClusteringManager is registered: call services.AddGpuClustering(...).");
        }

        IReadOnlyList<GpuDeviceStatus> statuses;
        GpuBackendKind backend;
        string? fallback;
        try
        {
            if (!_manager.IsRunning)
            {
                return NotRunning(failure);
            }

            statuses = _manager.GetStatuses();
            backend = _manager.BackendKind;
            fallback = _manager.BackendFallbackReason;
        }
        catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
        {
            return NotRunning(failure); // it stopped between the check and the read
        }

        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["backend"] = backend == GpuBackendKind.Simulated ? "simulated" : "nvml",
            ["devices"] = statuses.Count,
            ["minimumUsableDevices"] = options.MinimumUsableDevices,
        };
        if (fallback is not null)
        {
            data["fallbackReason"] = fallback;
        }

        var usable = 0;
        var notHealthy = new List<string>();
        foreach (var status in statuses)
        {
            data[status.Device.Uuid] = Describe(status);
            if (status.Health is GpuHealth.Healthy or GpuHealth.Degraded)
            {
                usable++;
            }

            if (status.Health != GpuHealth.Healthy)
            {
                notHealthy.Add(string.Create(CultureInfo.InvariantCulture, $"{status.Device.Index} ({status.Device.Uuid}) {Describe(status)}"));
            }
        }

        data["usableDevices"] = usable;
        var simulated = backend == GpuBackendKind.Simulated || statuses.Any(s => s.Device.IsSimulated);
        if (simulated && !options.SimulatedIsHealthy)
        {
            var why = fallback is null ? "" : $" ({fallback})";
            return new HealthCheckResult(failure, $"The GPU cluster runs on simulated devices{why}, and real GPUs are required.", data: data);
        }

        if (usable < options.MinimumUsableDevices)
        {
            var list = notHealthy.Count == 0 ? "" : ": " + string.Join("; ", notHealthy);
            return new HealthCheckResult(
                failure,
                string.Create(CultureInfo.InvariantCulture, $"{usable} of {statuses.Count} GPUs usable, at least {options.MinimumUsableDevices} required{list}."),
                data: data);
        }

        if (notHealthy.Count > 0)
        {
            return HealthCheckResult.Degraded(
                string.Create(CultureInfo.InvariantCulture, $"{notHealthy.Count} of {statuses.Count} GPUs not healthy: {string.Join("; ", notHealthy)}."),
                data: data);
        }

        return HealthCheckResult.Healthy(string.Create(CultureInfo.InvariantCulture, $"{statuses.Count} of {statuses.Count} GPUs healthy."), data);
    }

    private HealthCheckResult NotRunning(HealthStatus failure) => new(
        failure,
        _manager!.IsShuttingDown ? "The GPU cluster is shutting down or stopped." : "The GPU cluster has not started.");

    /// <summary>The health, and the reason when there is one: <c>Healthy</c>, <c>Degraded: temperature 88 °C (…)</c>.</summary>
    private static string Describe(GpuDeviceStatus status) =>
        status.Reason is { Length: > 0 } reason ? $"{status.Health}: {reason}" : status.Health.ToString();
}
