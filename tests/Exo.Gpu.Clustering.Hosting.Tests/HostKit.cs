using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Hosting.Tests;

/// <summary>Hosts over a small simulated cluster on a fake clock, and a worker that holds a lease while it runs.</summary>
internal static class HostKit
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>How long any await may take before the test fails instead of hanging: a guard, never a timing.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    /// <summary>Configuration of a 2-device simulated cluster that reads only on demand.</summary>
    public static Dictionary<string, string?> Settings(params (string Key, string? Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["GpuClustering:BackendChoice"] = "Simulated",
            ["GpuClustering:EnablePoller"] = "false",
            ["GpuClustering:RediscoveryInterval"] = null,
            ["GpuClustering:SimulatedOptions:DeviceCount"] = "2",
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    /// <summary>A host builder with the settings in memory and the fake clock registered.</summary>
    public static HostApplicationBuilder Builder(FakeTimeProvider time, Dictionary<string, string?> settings)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton<TimeProvider>(time);
        return builder;
    }
}

/// <summary>Takes the manager in its constructor, acquires a lease in StartAsync and releases it in StopAsync.</summary>
internal sealed class LeaseWorker : IHostedService
{
    private readonly GpuClusteringManager _manager;

    public LeaseWorker(GpuClusteringManager manager)
    {
        _manager = manager;
    }

    public GpuLease? Lease { get; private set; }

    public bool RunningAtStart { get; private set; }

    public bool RunningAtStop { get; private set; }

    public bool LeaseRevokedAtStop { get; private set; }

    public GpuLeaseSnapshot? AfterRelease { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        RunningAtStart = _manager.IsRunning;
        Lease = _manager.TryAcquire(new GpuRequest { MemoryBytes = 1L << 30 }, out var lease) ? lease : null;
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        RunningAtStop = _manager.IsRunning;
        LeaseRevokedAtStop = Lease?.Token.IsCancellationRequested ?? true;
        if (Lease is { } lease)
        {
            await lease.DisposeAsync();
        }

        AfterRelease = _manager.IsRunning ? _manager.GetLeaseSnapshot() : null;
    }
}
