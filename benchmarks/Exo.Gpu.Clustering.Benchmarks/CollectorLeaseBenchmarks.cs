using System.Reflection;
using BenchmarkDotNet.Attributes;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// One uncontended lease, acquired and released, through a real <see cref="TelemetryCollector"/> on
/// <see cref="TimeProvider.System"/>, against a <see cref="SemaphoreSlim"/> <c>WaitAsync</c> + <c>Release</c> pair:
/// chosen among all devices (every device read and scored), and pinned to one of them.
/// </summary>
[MemoryDiagnoser]
public class CollectorLeaseBenchmarks
{
    private readonly SemaphoreSlim _semaphore = new(8, 8);
    private TelemetryCollector _collector = null!;
    private DeviceSelector _selector = null!;
    private GpuRequest _request = null!;
    private GpuRequest _pinned = null!;

    [Params(8, 64, 512, 4096)]
    public int Devices { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _collector = CollectorFixture.Create(Devices, TimeProvider.System);
        _selector = new DeviceSelector(_collector, new DeviceSelectorOptions { Seed = 1 });
        _request = new GpuRequest { MemoryBytes = 10L << 30 };
        _pinned = new GpuRequest { MemoryBytes = 10L << 30, IncludeIndexes = [3] };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _selector.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _collector.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public async ValueTask SemaphoreWaitAsyncRelease()
    {
        await _semaphore.WaitAsync();
        _semaphore.Release();
    }

    [Benchmark]
    public async ValueTask AcquireAsyncDispose()
    {
        var lease = await _selector.AcquireAsync(_request);
        await lease.DisposeAsync();
    }

    [Benchmark]
    public void TryAcquireDispose()
    {
        _selector.TryAcquire(_request, out var lease);
        lease.Dispose();
    }

    [Benchmark]
    public async ValueTask AcquireAsyncDisposePinned()
    {
        var lease = await _selector.AcquireAsync(_pinned);
        await lease.DisposeAsync();
    }
}

/// <summary>A lease on a one-device cluster through the real collector, against the <see cref="SemaphoreSlim"/> pair.</summary>
[MemoryDiagnoser]
public class CollectorSingleLeaseBenchmarks
{
    private readonly SemaphoreSlim _semaphore = new(8, 8);
    private TelemetryCollector _collector = null!;
    private DeviceSelector _selector = null!;
    private GpuRequest _request = null!;

    [GlobalSetup]
    public void Setup()
    {
        _collector = CollectorFixture.Create(1, TimeProvider.System);
        _selector = new DeviceSelector(_collector, new DeviceSelectorOptions { Seed = 1 });
        _request = new GpuRequest { MemoryBytes = 10L << 30 };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _selector.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _collector.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public async ValueTask SemaphoreWaitAsyncRelease()
    {
        await _semaphore.WaitAsync();
        _semaphore.Release();
    }

    [Benchmark]
    public async ValueTask AcquireAsyncDisposeOneDevice()
    {
        var lease = await _selector.AcquireAsync(_request);
        await lease.DisposeAsync();
    }
}

/// <summary>
/// What the selector's lock costs others: a lease pinned to one device (a constant-time request) acquired and released
/// while another thread takes and returns leases chosen among all the devices as fast as it can, against the same
/// pinned lease with that thread idle; and the selector's lock itself, taken and left, with and without that thread.
/// When the scan among all devices runs under the lock, the others wait for it, and the ratio grows with the device
/// count; when only the grant runs under the lock, it does not.
/// </summary>
[MemoryDiagnoser]
public class CollectorLockHoldBenchmarks
{
    private TelemetryCollector _collector = null!;
    private DeviceSelector _selector = null!;
    private GpuRequest _pinned = null!;
    private GpuRequest _any = null!;
    private Lock _gate = null!;
    private Thread? _scanner;
    private volatile bool _stop;

    [Params(8, 4096)]
    public int Devices { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _collector = CollectorFixture.Create(Devices, TimeProvider.System);
        _selector = new DeviceSelector(_collector, new DeviceSelectorOptions { Seed = 1 });
        _pinned = new GpuRequest { MemoryBytes = 1L << 30, IncludeIndexes = [3] };
        _any = new GpuRequest { MemoryBytes = 1L << 30, ExcludeIndexes = [3] };
        _gate = (Lock)typeof(DeviceSelector).GetField("_gate", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(_selector)!;
    }

    [GlobalSetup(Targets = [nameof(PinnedWhileAnotherThreadScans), nameof(LockWhileAnotherThreadScans)])]
    public void SetupWithScanner()
    {
        Setup();
        _stop = false;
        var deadline = DateTime.UtcNow.AddMinutes(10); // bounded even if cleanup never runs
        _scanner = new Thread(() =>
        {
            while (!_stop && DateTime.UtcNow < deadline)
            {
                for (var i = 0; i < 1_000; i++)
                {
                    if (_selector.TryAcquire(_any, out var lease))
                    {
                        lease.Dispose();
                    }
                }
            }
        }) { IsBackground = true };
        _scanner.Start();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _scanner?.Join();
        _selector.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _collector.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public void PinnedAlone()
    {
        _selector.TryAcquire(_pinned, out var lease);
        lease.Dispose();
    }

    [Benchmark]
    public void PinnedWhileAnotherThreadScans()
    {
        _selector.TryAcquire(_pinned, out var lease);
        lease.Dispose();
    }

    /// <summary>Takes and leaves the selector's own lock (found by reflection) with that thread idle: the floor.</summary>
    [Benchmark]
    public void LockAlone()
    {
        lock (_gate)
        {
        }
    }

    /// <summary>Takes and leaves the selector's lock while the other thread takes leases among all devices: the wait is its hold time.</summary>
    [Benchmark]
    public void LockWhileAnotherThreadScans()
    {
        lock (_gate)
        {
        }
    }
}

/// <summary>
/// <see cref="DeviceSelector.GetSnapshot"/> over 64 devices whose capacity is all leased, with no waiter and with
/// 4,000 requests waiting: what it costs should depend on the devices, not on the waiters.
/// </summary>
[MemoryDiagnoser]
public class LeaseSnapshotBenchmarks
{
    private const int DeviceCount = 64;

    private TelemetryCollector _collector = null!;
    private DeviceSelector _selector = null!;

    [Params(0, 4000)]
    public int Waiters { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _collector = CollectorFixture.Create(DeviceCount, TimeProvider.System);
        _selector = new DeviceSelector(_collector, new DeviceSelectorOptions { Seed = 1, MemoryHeadroomBytes = 0 });
        var whole = new GpuRequest { MemoryBytes = 40L << 30 };
        while (_selector.TryAcquire(whole, out _))
        {
        }

        for (var i = 0; i < Waiters; i++)
        {
            _ = _selector.AcquireAsync(new GpuRequest { MemoryBytes = 40L << 30, ExcludeIndexes = [i % DeviceCount] }).AsTask();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _selector.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _collector.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark]
    public GpuLeaseSnapshot GetSnapshot() => _selector.GetSnapshot();
}
