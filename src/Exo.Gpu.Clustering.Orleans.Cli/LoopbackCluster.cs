using System.Net;
using System.Net.Sockets;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary>
/// N simulated GPU hosts as real Orleans silos in this process, on loopback TCP (localhost clustering: the first silo
/// keeps the membership table, so it is never the one killed). Each host has its own seed.
/// </summary>
internal sealed class LoopbackCluster : IAsyncDisposable
{
    private readonly List<(string HostId, IHost Host)> _silos = [];

    private LoopbackCluster()
    {
    }

    public IReadOnlyList<string> HostIds => [.. _silos.Select(s => s.HostId)];

    /// <summary>The first silo's grain factory: the pool runs in it.</summary>
    public IGrainFactory Grains => _silos[0].Host.Services.GetRequiredService<IGrainFactory>();

    /// <summary>The first silo's gateway port (for <c>status --gateway</c>).</summary>
    public int GatewayPort { get; private set; }

    /// <summary>The cluster id <c>serve</c> and <c>status</c> use by default.</summary>
    public const string DefaultClusterId = "exo-gpu";

    /// <summary>The service id of every cluster this tool starts.</summary>
    public const string ServiceId = "exo-gpu-cluster";

    /// <summary>Starts <paramref name="hosts"/> host silos, one after another, the first keeping the membership table.</summary>
    /// <param name="hosts">How many hosts.</param>
    /// <param name="devicesPerHost">Simulated devices per host.</param>
    /// <param name="seed">The run's seed; host i gets seed x 1000 + i.</param>
    /// <param name="clusterId">The Orleans cluster id.</param>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <param name="basePorts">Silo port and gateway port of the first host (the others follow, one apart); free ports when <see langword="null"/>.</param>
    public static async Task<LoopbackCluster> StartAsync(int hosts, int devicesPerHost, int seed, string clusterId, (int Silo, int Gateway)? basePorts, CancellationToken cancellationToken)
    {
        var cluster = new LoopbackCluster();
        var ports = basePorts is { } b
            ? [.. Enumerable.Range(0, hosts).SelectMany(i => new[] { b.Silo + i, b.Gateway + i })]
            : FreePorts(hosts * 2);
        var primary = new IPEndPoint(IPAddress.Loopback, ports[0]);
        cluster.GatewayPort = ports[1];
        try
        {
            for (var i = 0; i < hosts; i++)
            {
                var hostId = $"host-{i}";
                var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
                builder.Logging.ClearProviders();
                var siloPort = ports[2 * i];
                var gatewayPort = ports[(2 * i) + 1];
                var hostSeed = unchecked((seed * 1000) + i);
                builder.UseOrleans(silo =>
                {
                    silo.UseLocalhostClustering(siloPort, gatewayPort, primary, serviceId: ServiceId, clusterId: clusterId);
                    silo.Configure<ClusterMembershipOptions>(o =>
                    {
                        o.ProbeTimeout = TimeSpan.FromSeconds(1);
                        o.NumMissedProbesLimit = 2;
                    });
                    silo.AddGpuHost(h =>
                    {
                        h.HostId = hostId;
                        h.ReportInterval = TimeSpan.FromMilliseconds(250);
                        h.ReapInterval = TimeSpan.FromMilliseconds(100);
                        h.Clustering = new GpuClusteringOptions
                        {
                            BackendChoice = GpuBackendChoice.Simulated,
                            SimulatedOptions = new SimulatedGpuBackendOptions { Profile = SimulatedClusterProfile.Homogeneous(devicesPerHost), Seed = hostSeed },
                            RediscoveryInterval = null,
                            Telemetry = new Telemetry.TelemetryOptions { PollInterval = TimeSpan.FromMilliseconds(250) },
                        };
                    });
                    silo.AddClusterGpuPool(null);
                });
                var host = builder.Build();
                await host.StartAsync(cancellationToken).ConfigureAwait(false);
                cluster._silos.Add((hostId, host));
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops a host's silo at once (its leases are revoked as it goes; the others see it dead).</summary>
    public async Task KillAsync(string hostId)
    {
        var index = _silos.FindIndex(s => s.HostId == hostId);
        var (_, host) = _silos[index];
        _silos.RemoveAt(index);
        await host.StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        host.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _silos.Count - 1; i >= 0; i--)
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _silos[i].Host.StopAsync(bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            _silos[i].Host.Dispose();
        }

        _silos.Clear();
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }
}
