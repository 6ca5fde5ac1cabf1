using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Orleans.Benchmarks;

/// <summary>
/// Three simulated GPU hosts as real Orleans silos in this process, and an Orleans client with the cluster pool, all
/// on loopback TCP (127.0.0.1 only: localhost clustering, the first silo keeping the membership table), configured as
/// an application does it: <c>UseLocalhostClustering</c>, <c>AddGpuHost</c>, <c>AddGpuClustering</c> (the hosting
/// add-on) with the simulated backend, and <c>AddClusterGpuPool</c> on the client. Every wait is bounded.
/// </summary>
internal sealed class LoopbackGpuCluster : IAsyncDisposable
{
    public const int Hosts = 3;
    public const int DevicesPerHost = 4;

    /// <summary>The longest start (all silos, the client, the hosts in the directory's view) before setup fails.</summary>
    public static readonly TimeSpan StartBound = TimeSpan.FromSeconds(60);

    /// <summary>The longest stop of each silo and of the client.</summary>
    public static readonly TimeSpan StopBound = TimeSpan.FromSeconds(10);

    private const string ServiceId = "exo-gpu-bench";

    private readonly List<IHost> _silos = [];
    private IHost? _client;
    private IClusterGpuPool? _pool;

    private LoopbackGpuCluster()
    {
    }

    /// <summary>The client's cluster pool (from its services, as an application gets it).</summary>
    public IClusterGpuPool Pool => _pool ?? throw new InvalidOperationException("The cluster is not started.");

    /// <summary>The client's grain factory.</summary>
    public IClusterClient Client => _client?.Services.GetRequiredService<IClusterClient>() ?? throw new InvalidOperationException("The cluster is not started.");

    /// <summary>Starts the silos one after another, then the client, then waits until the directory shows every host with all its devices healthy.</summary>
    public static async Task<LoopbackGpuCluster> StartAsync()
    {
        using var bound = new CancellationTokenSource(StartBound);
        var cluster = new LoopbackGpuCluster();
        try
        {
            var clusterId = "exo-bench-" + Guid.NewGuid().ToString("N")[..8];
            var ports = FreeLoopbackPorts(Hosts * 2);
            var primary = new IPEndPoint(IPAddress.Loopback, ports[0]);
            for (var i = 0; i < Hosts; i++)
            {
                cluster._silos.Add(await StartSiloAsync($"host-{i}", ports[2 * i], ports[(2 * i) + 1], primary, clusterId, seed: 1000 + i, bound.Token).ConfigureAwait(false));
            }

            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Logging.ClearProviders();
            int[] gateways = [.. Enumerable.Range(0, Hosts).Select(i => ports[(2 * i) + 1])];
            builder.UseOrleansClient(client => client
                .UseLocalhostClustering(gateways, ServiceId, clusterId)
                .AddClusterGpuPool(null));
            cluster._client = builder.Build();
            await cluster._client.StartAsync(bound.Token).ConfigureAwait(false);
            cluster._pool = cluster._client.Services.GetRequiredService<IClusterGpuPool>();
            await cluster.WaitForHostsAsync(bound.Token).ConfigureAwait(false);
            return cluster;
        }
        catch (Exception e)
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            if (e is OperationCanceledException && bound.IsCancellationRequested)
            {
                throw new TimeoutException($"The 3-silo loopback cluster did not start within {StartBound.TotalSeconds:F0} s.", e);
            }

            throw;
        }
    }

    private static async Task<IHost> StartSiloAsync(string hostId, int siloPort, int gatewayPort, IPEndPoint primary, string clusterId, int seed, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort, gatewayPort, primary, ServiceId, clusterId);
            silo.AddGpuHost(h => h.HostId = hostId);
            silo.Services.AddGpuClustering(o =>
            {
                o.BackendChoice = GpuBackendChoice.Simulated;
                o.SimulatedOptions = new SimulatedGpuBackendOptions { DeviceCount = DevicesPerHost, Seed = seed };
            });
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

    private async Task WaitForHostsAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        ClusterGpuView? view = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                view = await Pool.GetViewAsync(cancellationToken).ConfigureAwait(false);
                if (view.Hosts.Count(h => h.Devices.Count == DevicesPerHost && h.Devices.All(d => d.Health == GpuHealth.Healthy)) == Hosts)
                {
                    return;
                }
            }
            catch (TimeoutException)
            {
                // The directory is activating; ask again.
            }

            try
            {
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        var seen = view is null ? "no view" : $"{view.Hosts.Count} host(s): {string.Join(", ", view.Hosts.Select(h => $"{h.Host} ({h.Devices.Count(d => d.Health == GpuHealth.Healthy)}/{h.Devices.Count} healthy)"))}";
        throw new TimeoutException($"After {clock.Elapsed.TotalSeconds:F1} s the directory view showed {seen}; expected {Hosts} hosts with {DevicesPerHost} healthy devices each.");
    }

    /// <summary>Disposes the pool, stops the client, then the silos, last started first, each within <see cref="StopBound"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_pool is not null)
        {
            await _pool.DisposeAsync().AsTask().WaitAsync(StopBound).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _pool = null;
        }

        if (_client is not null)
        {
            await StopAsync(_client).ConfigureAwait(false);
            _client = null;
        }

        for (var i = _silos.Count - 1; i >= 0; i--)
        {
            await StopAsync(_silos[i]).ConfigureAwait(false);
        }

        _silos.Clear();
    }

    private static async Task StopAsync(IHost host)
    {
        using var bound = new CancellationTokenSource(StopBound);
        try
        {
            await host.StopAsync(bound.Token).WaitAsync(StopBound + StopBound).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            // Past the bound: dispose it all the same.
        }

        host.Dispose();
    }

    private static int[] FreeLoopbackPorts(int count)
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
