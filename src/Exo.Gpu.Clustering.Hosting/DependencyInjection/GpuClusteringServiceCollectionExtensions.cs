using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a <see cref="GpuClusteringManager"/> in a host's services.</summary>
/// <remarks>
/// <para>After either overload, <see cref="GpuClusteringManager"/> can be taken in the constructor of any service,
/// hosted service, controller or endpoint: it is a singleton built synchronously (nothing is discovered until the host
/// starts). A hosted lifecycle service starts it in <see cref="IHostedLifecycleService.StartingAsync"/>, before any
/// hosted service's <see cref="IHostedService.StartAsync"/>, and shuts it down (drain included) in
/// <see cref="IHostedLifecycleService.StoppedAsync"/>, after every hosted service's <see cref="IHostedService.StopAsync"/>,
/// whatever the registration order.</para>
/// <para>The options are <see cref="IOptions{TOptions}"/> of <see cref="GpuClusteringOptions"/>, validated when the host
/// starts (<see cref="GpuClusteringConfigurationValidator"/>, naming each bad value by its configuration key). The services
/// come from the container: <see cref="TimeProvider"/> (<see cref="TimeProvider.System"/> unless one is registered),
/// <see cref="ILoggerFactory"/>, <see cref="IMeterFactory"/> (registered by <c>AddMetrics()</c>) and every registered
/// <see cref="IGpuBackend"/> (when none is, the backend is made from <see cref="GpuClusteringOptions.BackendChoice"/>);
/// the manager takes the backends over and disposes them when it stops.</para>
/// <para>Calling again is harmless: the services are registered once, and each call's configuration is applied in
/// order (later values win).</para>
/// </remarks>
public static class GpuClusteringServiceCollectionExtensions
{
    /// <summary>Registers the GPU cluster with its options bound from a configuration section (keys follow the property paths: <c>BackendChoice</c>, <c>Selector:MaxLeasesPerDevice</c>, <c>SimulatedOptions:DeviceCount</c>).</summary>
    /// <param name="services">The services.</param>
    /// <param name="section">The section holding the options, typically <c>configuration.GetSection("GpuClustering")</c>; its path prefixes the keys that validation errors name.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="section"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddGpuClustering(this IServiceCollection services, IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(section);
        AddCore(services, (section as IConfigurationSection)?.Path);
        services.AddOptions<GpuClusteringOptions>().Bind(section);
        return services;
    }

    /// <summary>Registers the GPU cluster with its options set in code.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the options.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is <see langword="null"/>.</exception>
    public static IServiceCollection AddGpuClustering(this IServiceCollection services, Action<GpuClusteringOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        AddCore(services, null);
        services.AddOptions<GpuClusteringOptions>().Configure(configure);
        return services;
    }

    /// <summary>What every overload registers, once.</summary>
    private static void AddCore(IServiceCollection services, string? configurationPath)
    {
        if (services.Any(d => d.ServiceType == typeof(GpuClusteringMarker)))
        {
            return;
        }

        services.AddSingleton<GpuClusteringMarker>();
        services.AddOptions<GpuClusteringOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<GpuClusteringOptions>>(new GpuClusteringConfigurationValidator(configurationPath));
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(CreateManager);
        services.AddSingleton<IHostedService, GpuClusteringLifecycle>();
    }

    /// <summary>Builds the manager synchronously from the options and the container's services.</summary>
    private static GpuClusteringManager CreateManager(IServiceProvider provider) => new(
        provider.GetRequiredService<IOptions<GpuClusteringOptions>>().Value,
        new GpuClusteringServices
        {
            TimeProvider = provider.GetRequiredService<TimeProvider>(),
            LoggerFactory = provider.GetService<ILoggerFactory>(),
            MeterFactory = provider.GetService<IMeterFactory>(),
            Backends = [.. provider.GetServices<IGpuBackend>()],
        });
}
