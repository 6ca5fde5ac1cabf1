using BenchmarkDotNet.Attributes;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>A fixed set of device states, read as the collector serves them (an array read per device).</summary>
internal sealed class StaticStateSource : IDeviceStateSource
{
    private readonly GpuDevice[] _devices;
    private readonly DeviceState[] _states;

    public StaticStateSource(int count)
    {
        _devices = new GpuDevice[count];
        _states = new DeviceState[count];
        for (var i = 0; i < count; i++)
        {
            const long total = 80L << 30;
            _devices[i] = new GpuDevice($"GPU-{i:x8}-0000-4000-8000-{i:x12}", i, "NVIDIA H100 80GB HBM3", total, GpuBackendKind.Simulated)
            {
                ComputeCapability = new ComputeCapability(9, 0),
            };
            var sample = new GpuSample
            {
                Timestamp = DateTimeOffset.UnixEpoch,
                MemoryTotalBytes = total,
                MemoryUsedBytes = (i % 7) * (4L << 30),
                UtilizationPercent = (i * 13) % 90,
                TemperatureC = 35 + (i % 30),
                PowerW = 100 + (i * 7 % 500),
                PowerLimitW = 700,
            };
            _states[i] = new DeviceState(GpuHealth.Healthy, true, sample, TimeSpan.FromMilliseconds(200));
        }
    }

    public int Version => 1;

    public IReadOnlyList<GpuDevice> Devices => _devices;

    public event Action<GpuHealthChange>? HealthChanged
    {
        add { }
        remove { }
    }

    public long Now => 0;

    public DeviceState GetState(int slot) => _states[slot];

    public DeviceState GetState(int slot, long now) => _states[slot];
}

/// <summary>
/// Selecting one device among 64 with constraints (memory, utilization, temperature, compute capability, an exclusion),
/// per strategy, against the floor: reading the 64 states the selection has to read anyway.
/// </summary>
[MemoryDiagnoser]
public class SchedulingSelectBenchmarks
{
    private StaticStateSource _source = null!;
    private DeviceSelector _selector = null!;
    private GpuRequest _best = null!;
    private GpuRequest _mostFree = null!;
    private GpuRequest _twoChoices = null!;
    private GpuRequest _roundRobin = null!;

    [GlobalSetup]
    public void Setup()
    {
        _source = new StaticStateSource(64);
        _selector = new DeviceSelector(_source, new DeviceSelectorOptions { Seed = 1 });
        _best = Request(GpuSelectionStrategy.BestScore);
        _mostFree = Request(GpuSelectionStrategy.MostFreeMemory);
        _twoChoices = Request(GpuSelectionStrategy.PowerOfTwoChoices);
        _roundRobin = Request(GpuSelectionStrategy.RoundRobin);
        _selector.Select(_best);
    }

    [Benchmark(Baseline = true)]
    public double ReadStates64()
    {
        var sum = 0.0;
        for (var i = 0; i < 64; i++)
        {
            sum += _source.GetState(i).Sample.UtilizationPercent.GetValueOrDefault();
        }

        return sum;
    }

    [Benchmark]
    public GpuDevice Select64BestScore() => _selector.Select(_best);

    [Benchmark]
    public GpuDevice Select64MostFree() => _selector.Select(_mostFree);

    [Benchmark]
    public GpuDevice Select64TwoChoices() => _selector.Select(_twoChoices);

    [Benchmark]
    public GpuDevice Select64RoundRobin() => _selector.Select(_roundRobin);

    private static GpuRequest Request(GpuSelectionStrategy strategy) => new()
    {
        Strategy = strategy,
        MemoryBytes = 20L << 30,
        MaxUtilizationPercent = 85,
        MaxTemperatureC = 60,
        MinComputeCapability = new ComputeCapability(8, 0),
        ExcludeIndexes = [3, 17],
    };
}

/// <summary>
/// One uncontended lease, acquired and released, against a SemaphoreSlim WaitAsync + Release pair: chosen among
/// 8 devices (the selector scores each), pinned to one of 8 devices, on a one-device cluster, and a gang of 2.
/// </summary>
[MemoryDiagnoser]
public class SchedulingLeaseBenchmarks
{
    private readonly SemaphoreSlim _semaphore = new(8, 8);
    private DeviceSelector _selector = null!;
    private DeviceSelector _single = null!;
    private GpuRequest _request = null!;
    private GpuRequest _pinned = null!;
    private GpuRequest _gang = null!;

    [GlobalSetup]
    public void Setup()
    {
        _selector = new DeviceSelector(new StaticStateSource(8), new DeviceSelectorOptions { Seed = 1 });
        _single = new DeviceSelector(new StaticStateSource(1), new DeviceSelectorOptions { Seed = 1 });
        _request = new GpuRequest { MemoryBytes = 10L << 30 };
        _pinned = new GpuRequest { MemoryBytes = 10L << 30, IncludeIndexes = [3] };
        _gang = new GpuRequest { MemoryBytes = 10L << 30, DeviceCount = 2 };
    }

    [Benchmark(Baseline = true)]
    public async ValueTask SemaphoreWaitAsyncRelease()
    {
        await _semaphore.WaitAsync();
        _semaphore.Release();
    }

    [Benchmark]
    public async ValueTask AcquireAsyncDisposeAmong8()
    {
        var lease = await _selector.AcquireAsync(_request);
        await lease.DisposeAsync();
    }

    [Benchmark]
    public void TryAcquireDisposeAmong8()
    {
        _selector.TryAcquire(_request, out var lease);
        lease.Dispose();
    }

    [Benchmark]
    public async ValueTask AcquireAsyncDisposePinnedOf8()
    {
        var lease = await _selector.AcquireAsync(_pinned);
        await lease.DisposeAsync();
    }

    [Benchmark]
    public async ValueTask AcquireAsyncDisposeOneDevice()
    {
        var lease = await _single.AcquireAsync(_request);
        await lease.DisposeAsync();
    }

    [Benchmark]
    public async ValueTask AcquireAsyncDisposeGangOf2()
    {
        var lease = await _selector.AcquireAsync(_gang);
        await lease.DisposeAsync();
    }
}

/// <summary>
/// 16 tasks contending for 8 devices, each lease big enough that a device holds one at a time, held across a yield
/// (so the tasks interleave and about half of them wait in the queue), against 16 tasks doing the same with a
/// SemaphoreSlim of 8. One operation = one acquire + yield + release.
/// </summary>
[MemoryDiagnoser]
public class SchedulingContentionBenchmarks
{
    private const int Tasks = 16;
    private const int Iterations = 1_000;

    private readonly SemaphoreSlim _semaphore = new(8, 8);
    private DeviceSelector _selector = null!;
    private GpuRequest _request = null!;

    [GlobalSetup]
    public void Setup()
    {
        _selector = new DeviceSelector(new StaticStateSource(8), new DeviceSelectorOptions { Seed = 1, MemoryHeadroomBytes = 0 });
        _request = new GpuRequest { MemoryBytes = 50L << 30 };
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Tasks * Iterations)]
    public Task Semaphore16Over8() => Run(async () =>
    {
        for (var i = 0; i < Iterations; i++)
        {
            await _semaphore.WaitAsync();
            await Task.Yield();
            _semaphore.Release();
        }
    });

    [Benchmark(OperationsPerInvoke = Tasks * Iterations)]
    public Task Leases16Over8() => Run(async () =>
    {
        for (var i = 0; i < Iterations; i++)
        {
            var lease = await _selector.AcquireAsync(_request);
            await Task.Yield();
            await lease.DisposeAsync();
        }
    });

    private static Task Run(Func<Task> body)
    {
        var tasks = new Task[Tasks];
        for (var t = 0; t < Tasks; t++)
        {
            tasks[t] = Task.Run(body);
        }

        return Task.WhenAll(tasks);
    }
}
