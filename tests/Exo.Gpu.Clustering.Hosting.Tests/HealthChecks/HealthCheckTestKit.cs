using Exo.Gpu.Clustering.Backends.Simulated;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Hosting.Tests.HealthChecks;

/// <summary>Managers on the simulated cluster and containers with the health check, for the health check tests.</summary>
internal static class HealthCheckTestKit
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How long any await may take before the test fails instead of hanging: a guard, never a timing.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    /// <summary>
    /// A manager, not started, over <paramref name="devices"/> simulated H100s with a fault plan, on a fake clock with
    /// no poller (readings move on <see cref="GpuClusteringManager.RefreshTelemetryAsync"/>).
    /// </summary>
    public static GpuClusteringManager Manager(FakeTimeProvider time, int devices = 4, string faults = "")
    {
        var options = new GpuClusteringOptions
        {
            EnablePoller = false,
            RediscoveryInterval = null,
            DrainTimeout = TimeSpan.FromSeconds(1),
        };
        var services = new GpuClusteringServices { TimeProvider = time };
        services.Backends.Add(new SimulatedGpuBackend(SimulatedClusterProfile.Homogeneous(devices), SimulatedFaultPlan.Parse(faults), timeProvider: time));
        return new GpuClusteringManager(options, services);
    }

    /// <summary>Starts a manager (see <see cref="Manager"/>).</summary>
    public static async Task<GpuClusteringManager> StartedAsync(FakeTimeProvider time, int devices = 4, string faults = "")
    {
        var manager = Manager(time, devices, faults);
        await manager.StartAsync(CancellationToken.None).WaitAsync(Guard);
        return manager;
    }

    /// <summary>A container with the manager registered by hand (as <c>AddGpuClustering</c> will) and the health checks <paramref name="add"/> adds.</summary>
    public static ServiceProvider Services(GpuClusteringManager? manager, Action<IHealthChecksBuilder> add)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        if (manager is not null)
        {
            services.AddSingleton(manager);
        }

        add(services.AddHealthChecks());
        return services.BuildServiceProvider();
    }

    /// <summary>Runs every check through the host's <see cref="HealthCheckService"/> and returns the entry of <paramref name="name"/>.</summary>
    public static async Task<HealthReportEntry> CheckAsync(IServiceProvider services, string name = "gpu")
    {
        var report = await services.GetRequiredService<HealthCheckService>().CheckHealthAsync().WaitAsync(Guard);
        return report.Entries[name];
    }
}
