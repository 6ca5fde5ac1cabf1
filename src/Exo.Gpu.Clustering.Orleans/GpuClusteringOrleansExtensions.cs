using Exo.Gpu.Clustering.Orleans;
using Exo.Gpu.Clustering.Orleans.Hosts;
using Exo.Gpu.Clustering.Orleans.Pool;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Orleans.Hosting;

/// <summary>Adds GPU hosts and the cluster GPU pool to Orleans silos and clients.</summary>
public static class GpuClusteringOrleansExtensions
{
    /// <summary>
    /// Makes this silo a GPU host over its own <see cref="Exo.Gpu.Clustering.GpuClusteringManager"/> (the only arbiter
    /// of its devices), registered through the hosting add-on's <c>AddGpuClustering</c> (call it with a configuration
    /// section or a delegate to configure the manager; this adds it with its defaults when absent): the manager starts
    /// before the silo and drains after it. The host is refused at start when another live silo holds its host id,
    /// fronts its manager with a host grain pinned to it, reports to the directory every interval, and revokes every
    /// lease when it stops or sees itself declared dead. Also registers the host placement.
    /// </summary>
    /// <param name="builder">The silo builder.</param>
    /// <param name="configure">Sets the host's options (host id, report interval, lease bounds).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static ISiloBuilder AddGpuHost(this ISiloBuilder builder, Action<GpuHostOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<GpuHostOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        // The host id is the silo's name: membership then says which silo is which host.
        builder.Services.AddOptions<SiloOptions>().PostConfigure<IOptions<GpuHostOptions>>((silo, host) =>
        {
            if (host.Value.HostId is { } id)
            {
                silo.SiloName = id;
            }
        });
        builder.Services.AddGpuClustering(static _ => { }); // idempotent: keeps what the application registered
        builder.Services.TryAddSingleton<GpuHostRuntime>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<GpuHostRuntime>());
        AddPlacement(builder);
        return builder;
    }

    /// <summary>Registers <see cref="IClusterGpuPool"/> in a silo (and the host placement, so the silo can place host grains).</summary>
    /// <param name="builder">The silo builder.</param>
    /// <param name="configure">Sets the pool's options; <see langword="null"/> for the defaults.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static ISiloBuilder AddClusterGpuPool(this ISiloBuilder builder, Action<ClusterGpuPoolOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddPlacement(builder);
        AddPool(builder.Services, configure);
        return builder;
    }

    /// <summary>Registers <see cref="IClusterGpuPool"/> in an Orleans client application.</summary>
    /// <param name="builder">The client builder.</param>
    /// <param name="configure">Sets the pool's options; <see langword="null"/> for the defaults.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    public static IClientBuilder AddClusterGpuPool(this IClientBuilder builder, Action<ClusterGpuPoolOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddPool(builder.Services, configure);
        return builder;
    }

    /// <summary>Tunes Orleans' failure detection for GPU hosts (see <see cref="GpuHostFailureDetection"/> for the detection times).</summary>
    /// <param name="builder">The silo builder (every silo of the cluster should use the same preset).</param>
    /// <param name="detection">The preset; <see cref="GpuHostFailureDetection.OrleansDefaults"/> changes nothing.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="detection"/> is not defined.</exception>
    public static ISiloBuilder UseGpuHostFailureDetection(this ISiloBuilder builder, GpuHostFailureDetection detection)
    {
        ArgumentNullException.ThrowIfNull(builder);
        switch (detection)
        {
            case GpuHostFailureDetection.OrleansDefaults:
                return builder;
            case GpuHostFailureDetection.Balanced:
                return builder.Configure<ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = TimeSpan.FromSeconds(2);
                    o.NumMissedProbesLimit = 3;
                });
            case GpuHostFailureDetection.Fast:
                return builder.Configure<ClusterMembershipOptions>(o =>
                {
                    o.ProbeTimeout = TimeSpan.FromSeconds(1);
                    o.NumMissedProbesLimit = 2;
                    o.TableRefreshTimeout = TimeSpan.FromSeconds(5);
                    o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                });
            default:
                throw new ArgumentOutOfRangeException(nameof(detection), detection, "Not a GpuHostFailureDetection value.");
        }
    }

    /// <summary>Creates a cluster pool over a grain factory (a client's or a silo's), outside dependency injection.</summary>
    /// <param name="grains">The grain factory.</param>
    /// <param name="options">The pool's options; the defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock of renews and deadlines; the system clock when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Loggers; none when <see langword="null"/>.</param>
    /// <returns>The pool: dispose it to release its leases.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="grains"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> are invalid (every problem in the message).</exception>
    public static IClusterGpuPool CreateClusterGpuPool(this IGrainFactory grains, ClusterGpuPoolOptions? options = null, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null) =>
        new ClusterGpuPool(grains, options ?? new ClusterGpuPoolOptions(), timeProvider, loggerFactory);

    private static void AddPool(IServiceCollection services, Action<ClusterGpuPoolOptions>? configure)
    {
        var options = services.AddOptions<ClusterGpuPoolOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton<IClusterGpuPool>(sp => new ClusterGpuPool(
            sp.GetRequiredService<IGrainFactory>(),
            sp.GetRequiredService<IOptions<ClusterGpuPoolOptions>>().Value,
            sp.GetService<TimeProvider>(),
            sp.GetService<ILoggerFactory>()));
    }

    private static void AddPlacement(ISiloBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(GpuHostPlacementDirector)))
        {
            return;
        }

        builder.Services.AddSingleton<GpuHostPlacementDirector>();
        builder.AddPlacementDirector<GpuHostPlacement>(sp => sp.GetRequiredService<GpuHostPlacementDirector>());
    }
}
