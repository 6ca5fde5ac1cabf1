using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Orleans.Pool;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Exo.Gpu.Clustering.Orleans.Tests.Cluster;

/// <summary>
/// One in-process cluster shared by the cluster tests: three silos, each a simulated GPU host of two H100s with its
/// own seed, named Silo_0, Silo_1 and Silo_2 (the silo name is the host id); placement filters run
/// (<c>AssumeHomogenousSilosForTesting = false</c>). Tests that kill a host start their own extra silo first.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const long GiB = 1L << 30;

    /// <summary>How long any wait may take before the test fails instead of hanging: a guard, never a timing.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    /// <summary>The host id the next silo to start gets (consumed by that silo), or <see langword="null"/> for its name.</summary>
    private string? _nextHostId;

    /// <summary>The fault plan of the next silo to start (consumed by that silo), or <see langword="null"/> for none.</summary>
    private string? _nextFaults;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    /// <summary>Short TTLs so expiry and deadlines show within a test.</summary>
    public static ClusterGpuPoolOptions PoolOptions() => new()
    {
        LeaseTtl = TimeSpan.FromSeconds(4),
        HolderDeadline = TimeSpan.FromSeconds(3),
        RenewInterval = TimeSpan.FromMilliseconds(200),
        PrepareTtl = TimeSpan.FromSeconds(1),
        CallTimeout = TimeSpan.FromSeconds(5),
        RetryDelay = TimeSpan.FromMilliseconds(20),
    };

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.Options.AssumeHomogenousSilosForTesting = false;
        builder.Options.ConfigureFileLogging = false;
        builder.ConfigureSilo((silo, siloBuilder) =>
        {
            var hostId = Interlocked.Exchange(ref _nextHostId, null);
            var faults = Interlocked.Exchange(ref _nextFaults, null);
            var seed = StableSeed(hostId ?? silo.SiloName);
            siloBuilder.AddGpuHost(h =>
            {
                h.HostId = hostId;
                h.ReportInterval = TimeSpan.FromMilliseconds(200);
                h.ReapInterval = TimeSpan.FromMilliseconds(50);
            });
            siloBuilder.Services.AddGpuClustering(o =>
            {
                SimulatedHost(o, seed, devices: 2);
                o.SimulatedOptions!.Faults = faults ?? "";
            });
            siloBuilder.AddClusterGpuPool(null);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await WaitForHostsAsync(3);
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>The host's manager: a simulated cluster of <paramref name="devices"/> H100s with its own seed, polled every 200 ms.</summary>
    internal static void SimulatedHost(GpuClusteringOptions options, int seed, int devices)
    {
        options.BackendChoice = GpuBackendChoice.Simulated;
        options.SimulatedOptions = new SimulatedGpuBackendOptions { DeviceCount = devices, Seed = seed };
        options.RediscoveryInterval = null;
        options.Telemetry.PollInterval = TimeSpan.FromMilliseconds(200);
    }

    /// <summary>A pool over the cluster's client, with the fixture's short TTLs.</summary>
    internal ClusterGpuPool NewPool() => new(Client, PoolOptions());

    /// <summary>Starts one more host silo with host id <paramref name="hostId"/> and, optionally, a simulated fault plan.</summary>
    public async Task<InProcessSiloHandle> StartHostAsync(string hostId, string? faults = null)
    {
        _nextHostId = hostId;
        _nextFaults = faults;
        try
        {
            var silo = await Cluster.StartAdditionalSiloAsync();
            await WaitUntilAsync(async () => (await View()).Hosts.Any(h => h.Host.HostId == hostId), $"host {hostId} in the view");
            return silo;
        }
        finally
        {
            _nextHostId = null;
            _nextFaults = null;
        }
    }

    /// <summary>The harness's cooperative kill (<c>IHost.StopAsync</c> with a cancelled token).</summary>
    public Task KillAsync(InProcessSiloHandle silo) => Cluster.KillSiloAsync(silo);

    public Task<ClusterGpuView> View() => Client.CreateClusterGpuPool(PoolOptions()).GetViewAsync();

    /// <summary>The report of <paramref name="hostId"/> straight from its host grain.</summary>
    internal Task<GpuHostReport> ReportOf(string hostId) => Client.GetGrain<Exo.Gpu.Clustering.Orleans.Hosts.IGpuHostGrain>(hostId).GetReportAsync();

    public async Task WaitForHostsAsync(int count) =>
        await WaitUntilAsync(async () => (await View()).Hosts.Count(h => h.Devices.All(d => d.Health == Devices.GpuHealth.Healthy)) >= count, $"{count} healthy hosts");

    /// <summary>Completes when the lease's token fires.</summary>
    public static Task FiredAsync(ClusterLease lease)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lease.Token.Register(() => fired.TrySetResult());
        return fired.Task;
    }

    /// <summary>Polls <paramref name="condition"/> every 20 ms until it holds; fails after <see cref="Guard"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Guard;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Waited {Guard} for {what}.");
            }

            await Task.Delay(20);
        }
    }

    private static int StableSeed(string name) => name.Aggregate(17, (h, c) => unchecked((h * 31) + c));
}

[CollectionDefinition(Name)]
public sealed class ClusterTestGroup : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
