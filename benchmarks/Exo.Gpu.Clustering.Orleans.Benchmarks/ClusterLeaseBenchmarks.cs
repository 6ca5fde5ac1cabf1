using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;

namespace Exo.Gpu.Clustering.Orleans.Benchmarks;

/// <summary>
/// Cross-silo cluster leases through <see cref="IClusterGpuPool"/> from an Orleans client, against three simulated GPU
/// host silos of four devices each (<see cref="LoopbackGpuCluster"/>: every silo and the client in this process, on
/// loopback TCP), one operation per measurement (<see cref="PerOperationConfig"/>). The baseline is the Orleans floor:
/// one bare grain round trip from the same client to a grain on one of the silos. A fresh request id per lease.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(PerOperationConfig))]
public class ClusterLeaseBenchmarks
{
    /// <summary>The concurrent operations of the throughput benchmarks.</summary>
    public const int Concurrent = 16;

    private const long GiB = 1L << 30;

    private LoopbackGpuCluster _cluster = null!;
    private IClusterGpuPool _pool = null!;
    private IPingGrain _ping = null!;
    private long _next;

    [GlobalSetup]
    public void Setup()
    {
        var clock = Stopwatch.StartNew();
        _cluster = LoopbackGpuCluster.StartAsync().GetAwaiter().GetResult();
        _pool = _cluster.Pool;
        _ping = _cluster.Client.GetGrain<IPingGrain>(0);
        CheckAsync().GetAwaiter().GetResult();
        Console.WriteLine($"// {LoopbackGpuCluster.Hosts} host silos and the client started, every host in the view, every path checked: {clock.Elapsed.TotalSeconds:F1} s");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        var clock = Stopwatch.StartNew();
        _cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine($"// pool disposed, client and silos stopped: {clock.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>One bare grain round trip, client → gateway → grain: what Orleans itself costs.</summary>
    [Benchmark(Baseline = true)]
    public Task GrainRoundTrip() => _ping.PingAsync();

    /// <summary>The directory's view (three host reports of four devices): the first of an acquire's calls, alone.</summary>
    [Benchmark]
    public Task<ClusterGpuView> DirectoryView() => _pool.GetViewAsync();

    /// <summary>One device, 1 GiB: the directory's view, the reserve on the chosen host, the release.</summary>
    [Benchmark]
    public async Task AcquireReleaseOneDevice()
    {
        var lease = await _pool.AcquireAsync(new ClusterGpuRequest { RequestId = NextId(), MemoryBytes = GiB });
        await lease.ReleaseAsync();
    }

    /// <summary>A gang of three devices, one per host (<see cref="GangPlacement.StrictSpread"/>): the view, prepare on all three, commit on all three, release on all three.</summary>
    [Benchmark]
    public async Task AcquireReleaseStrictSpreadGangOf3()
    {
        var lease = await _pool.AcquireAsync(new ClusterGpuRequest { RequestId = NextId(), MemoryBytes = GiB, DeviceCount = LoopbackGpuCluster.Hosts, Placement = GangPlacement.StrictSpread });
        await lease.ReleaseAsync();
    }

    /// <summary>The floor of the throughput row: <see cref="Concurrent"/> grain round trips at once (time per call).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    public Task GrainRoundTrip16Concurrent()
    {
        var calls = new Task[Concurrent];
        for (var i = 0; i < calls.Length; i++)
        {
            calls[i] = _ping.PingAsync();
        }

        return Task.WhenAll(calls);
    }

    /// <summary>Throughput: <see cref="Concurrent"/> one-device acquire + release pairs at once (time per pair; ops/s = 1 / mean).</summary>
    [Benchmark(OperationsPerInvoke = Concurrent)]
    public Task AcquireReleaseOneDevice16Concurrent()
    {
        var pairs = new Task[Concurrent];
        for (var i = 0; i < pairs.Length; i++)
        {
            pairs[i] = AcquireReleaseOneDevice();
        }

        return Task.WhenAll(pairs);
    }

    private string NextId() => "bench-" + Interlocked.Increment(ref _next).ToString(CultureInfo.InvariantCulture);

    /// <summary>Every path once, checked: setup fails with a clear message rather than measuring something else.</summary>
    private async Task CheckAsync()
    {
        await _ping.PingAsync();
        var one = await _pool.AcquireAsync(new ClusterGpuRequest { RequestId = NextId(), MemoryBytes = GiB });
        var oneParts = one.Parts.Count;
        var oneReleased = await one.ReleaseAsync();
        var gang = await _pool.AcquireAsync(new ClusterGpuRequest { RequestId = NextId(), MemoryBytes = GiB, DeviceCount = LoopbackGpuCluster.Hosts, Placement = GangPlacement.StrictSpread });
        var gangHosts = gang.Parts.Select(p => p.Host.HostId).Distinct().Count();
        var gangDevices = gang.DeviceCount;
        var gangReleased = await gang.ReleaseAsync();
        if (oneParts != 1 || oneReleased != ClusterReleaseResult.Released
            || gangHosts != LoopbackGpuCluster.Hosts || gangDevices != LoopbackGpuCluster.Hosts || gangReleased != ClusterReleaseResult.Released)
        {
            throw new InvalidOperationException(
                $"The pool did not behave as the benchmark assumes: one device gave {oneParts} part(s), release {oneReleased}; " +
                $"the StrictSpread gang of {LoopbackGpuCluster.Hosts} gave {gangDevices} device(s) on {gangHosts} host(s), release {gangReleased}.");
        }
    }
}
