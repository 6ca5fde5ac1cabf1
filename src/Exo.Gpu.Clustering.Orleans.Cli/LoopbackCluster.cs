using System.Net;
using System.Net.Sockets;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

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

    /// <summary>Every silo's gateway port.</summary>
    public IReadOnlyList<int> GatewayPorts { get; private set; } = [];

    /// <summary>The first silo's silo port: where the others (and <c>host --primary-port</c>) join.</summary>
    public int PrimaryPort { get; private set; }

    /// <summary>The cluster id.</summary>
    public string ClusterId { get; private set; } = DefaultClusterId;

    /// <summary>The first silo's services (its membership view, for instance).</summary>
    public IServiceProvider PrimaryServices => _silos[0].Host.Services;

    /// <summary>The services of the silo of <paramref name="hostId"/>.</summary>
    public IServiceProvider ServicesOf(string hostId) => _silos.Single(s => s.HostId == hostId).Host.Services;

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
        cluster.PrimaryPort = ports[0];
        cluster.GatewayPorts = [.. Enumerable.Range(0, hosts).Select(i => ports[(2 * i) + 1])];
        cluster.ClusterId = clusterId;
        try
        {
            for (var i = 0; i < hosts; i++)
            {
                var hostId = $"host-{i}";
                var host = await StartHostSiloAsync(hostId, ports[2 * i], ports[(2 * i) + 1], primary, clusterId, devicesPerHost, unchecked((seed * 1000) + i), null, cancellationToken).ConfigureAwait(false);
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

    /// <summary>
    /// Starts one simulated GPU host silo on loopback that joins the cluster whose primary silo listens on
    /// <paramref name="primary"/> (itself, when its silo port is that one). Membership is tuned for fast detection
    /// (probe timeout 1 s, 2 missed probes, table refresh and I-am-alive publish 5 s): crashes in about a second,
    /// hangs in about eight. The host probes the membership table every second (a loopback table is cheap to read).
    /// </summary>
    /// <param name="hostId">The host id (the silo's name).</param>
    /// <param name="siloPort">The silo port.</param>
    /// <param name="gatewayPort">The gateway port.</param>
    /// <param name="primary">The primary silo's endpoint (it keeps the membership table).</param>
    /// <param name="clusterId">The Orleans cluster id.</param>
    /// <param name="devices">Simulated devices.</param>
    /// <param name="seed">The host's seed.</param>
    /// <param name="loggers">Where the silo logs; nowhere when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Stops the start.</param>
    /// <returns>The started host.</returns>
    public static async Task<IHost> StartHostSiloAsync(string hostId, int siloPort, int gatewayPort, IPEndPoint primary, string clusterId, int devices, int seed, ILoggerProvider? loggers, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        if (loggers is not null)
        {
            builder.Logging.AddProvider(loggers);
        }

        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, primary, serviceId: ServiceId, clusterId: clusterId);
            silo.UseGpuHostFailureDetection(GpuHostFailureDetection.Fast);
            silo.AddGpuHost(h =>
            {
                h.HostId = hostId;
                h.ReportInterval = TimeSpan.FromMilliseconds(250);
                h.ReapInterval = TimeSpan.FromMilliseconds(100);
                h.MembershipProbeInterval = TimeSpan.FromSeconds(1);
            });
            silo.Services.AddGpuClustering(o =>
            {
                o.BackendChoice = GpuBackendChoice.Simulated;
                o.SimulatedOptions = new SimulatedGpuBackendOptions { DeviceCount = devices, Seed = seed };
                o.RediscoveryInterval = null;
                o.Telemetry.PollInterval = TimeSpan.FromMilliseconds(250);
            });
            silo.AddClusterGpuPool(null);
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
            return host;
        }
        catch
        {
            host.Dispose();
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

    /// <summary>Waits until the pool's view shows <paramref name="hosts"/> hosts, every device healthy; fails after 30 s.</summary>
    /// <param name="pool">The pool to ask.</param>
    /// <param name="hosts">How many hosts.</param>
    /// <param name="cancellationToken">Stops the wait.</param>
    /// <returns>The view that showed them.</returns>
    public static async Task<ClusterGpuView> WaitForHostsAsync(IClusterGpuPool pool, int hosts, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var view = await pool.GetViewAsync(cancellationToken).ConfigureAwait(false);
            if (view.Hosts.Count == hosts && view.Hosts.All(h => h.Devices.All(d => d.Health == Devices.GpuHealth.Healthy)))
            {
                return view;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"only {view.Hosts.Count} of {hosts} hosts reported healthy within 30 s");
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    internal static int[] FreePorts(int count)
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
