using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// The collector's hot paths against what a user would write by hand: a <c>lock</c> around a dictionary of
/// <see cref="Queue{T}"/> that trims to the capacity. Each category has its own baseline.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class TelemetryBenchmarks
{
    private const int Capacity = 1024;
    private const int Devices = 8;

    private static readonly TimeSpan Window = TimeSpan.FromHours(1);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Queue<GpuSample>> _queues = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GpuSample> _latest = new(StringComparer.Ordinal);
    private TelemetryCollector _collector = null!;
    private IDeviceStateSource _source = null!;
    private string _uuid = null!;
    private GpuSample _sample;
    private DateTimeOffset _now;

    [GlobalSetup]
    public void Setup()
    {
        var time = new FrozenTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        _now = time.GetUtcNow();
        var devices = Enumerable.Range(0, Devices)
            .Select(i => new GpuDevice($"GPU-00000000-0000-0000-0000-{i:D12}", i, "Bench GPU", 80L << 30, GpuBackendKind.Simulated))
            .ToArray();
        _collector = new TelemetryCollector(devices, new TelemetryOptions { HistoryCapacity = Capacity }, time);
        _source = _collector;
        _uuid = devices[3].Uuid;

        // 1,024 readings a second apart, up to now: a smooth load with noise, as real telemetry moves.
        var random = new Random(42);
        foreach (var device in devices)
        {
            var queue = new Queue<GpuSample>(Capacity + 1);
            for (var i = 0; i < Capacity; i++)
            {
                var sample = Reading(_now.AddSeconds(i - Capacity + 1), 50 + (30 * Math.Sin(i / 40.0)) + (random.NextDouble() * 10));
                _collector.Record(device.Uuid, sample);
                queue.Enqueue(sample);
            }

            _queues[device.Uuid] = queue;
            _latest[device.Uuid] = queue.Last();
        }

        // Recording the newest reading again is valid (equal timestamps are accepted), so every call does the same work.
        _sample = _queues[_uuid].Last();
    }

    [GlobalCleanup]
    public void Cleanup() => _collector.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true, Description = "lock + Queue<T> record")]
    [BenchmarkCategory("Record")]
    public void RecordBaseline()
    {
        lock (_gate)
        {
            var queue = _queues[_uuid];
            queue.Enqueue(_sample);
            while (queue.Count > Capacity)
            {
                queue.Dequeue();
            }
        }
    }

    [Benchmark(Description = "Record(uuid, sample)")]
    [BenchmarkCategory("Record")]
    public void Record() => _collector.Record(_uuid, _sample);

    [Benchmark(Description = "RecordAt(slot, sample)")]
    [BenchmarkCategory("Record")]
    public bool RecordAtSlot() => _collector.RecordAt(3, _sample);

    [Benchmark(Baseline = true, Description = "lock + Queue<T> summary")]
    [BenchmarkCategory("Summary")]
    public (int Count, double Mean, double Min, double Max, double P50, double P95) SummaryBaseline()
    {
        var since = _now - Window;
        double[] values;
        lock (_gate)
        {
            values = _queues[_uuid].Where(s => s.Timestamp >= since && s.TemperatureC.HasValue).Select(s => s.TemperatureC!.Value).ToArray();
        }

        Array.Sort(values);
        var n = values.Length;
        return (n, values.Average(), values[0], values[^1], values[(int)Math.Ceiling(0.50 * n) - 1], values[(int)Math.Ceiling(0.95 * n) - 1]);
    }

    [Benchmark(Description = "Summarize over 1,024")]
    [BenchmarkCategory("Summary")]
    public TelemetrySummary? Summary() => _collector.Summarize(_uuid, TelemetryMetric.Temperature, Window);

    [Benchmark(Baseline = true, Description = "lock + Dictionary latest")]
    [BenchmarkCategory("Latest")]
    public GpuSample LatestBaseline()
    {
        lock (_gate)
        {
            return _latest[_uuid];
        }
    }

    [Benchmark(Description = "IDeviceStateSource.GetState")]
    [BenchmarkCategory("Latest")]
    public long GetState()
    {
        var state = _source.GetState(3);
        return state.HasFreshSample ? state.Sample.TimestampUtcTicks + (int)state.Health : -1;
    }

    /// <summary>What GetState adds on the real clock (the benchmarks' collector uses a frozen one).</summary>
    [Benchmark(Description = "TimeProvider.System.GetUtcNow")]
    [BenchmarkCategory("Latest")]
    public DateTimeOffset SystemClock() => TimeProvider.System.GetUtcNow();

    private static GpuSample Reading(DateTimeOffset at, double load) => new()
    {
        Timestamp = at,
        UtilizationPercent = Math.Clamp(load, 0, 100),
        MemoryUtilizationPercent = Math.Clamp(load / 2, 0, 100),
        TemperatureC = 35 + (load * 0.45),
        PowerW = 70 + (load * 6),
        PowerLimitW = 700,
        MemoryUsedBytes = (long)(load * (1L << 28)),
        MemoryTotalBytes = 80L << 30,
        SmClockMHz = 1980,
        ClockEventReasons = GpuClockEventReasons.None,
        EccCorrectedErrors = 0,
        EccUncorrectedErrors = 0,
    };

    /// <summary>A clock stopped at one instant, so the readings stay fresh however long the benchmark runs.</summary>
    private sealed class FrozenTimeProvider(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

/// <summary>
/// <see cref="TelemetryCollector.Record"/> through the real collector on <see cref="TimeProvider.System"/>, from one or
/// two threads, each recording its own devices (thread t records devices t, t + threads, …: interleaved slots), with
/// fresh readings (stamped now), stale ones (stamped a minute ago) and future ones (stamped an hour ahead). The baseline
/// is what a user would write: one <c>lock</c> around a dictionary of <see cref="Queue{T}"/> trimmed to the capacity,
/// taken by the same threads for the same devices. Times are per reading per thread.
/// </summary>
[MemoryDiagnoser]
[CategoriesColumn]
public class TelemetryRecordBenchmarks
{
    /// <summary>Readings each thread records per invocation.</summary>
    private const int PerThread = 65_536;

    private const int Capacity = 1024;
    private const int Devices = 8;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Queue<GpuSample>> _queues = new(StringComparer.Ordinal);
    private TelemetryCollector _collector = null!;
    private string[] _uuids = null!;
    private GpuSample _template;

    /// <summary>The second thread, started once and reused, so no invocation pays for a thread start.</summary>
    private Thread? _worker;
    private readonly SemaphoreSlim _go = new(0);
    private readonly SemaphoreSlim _done = new(0);
    private Action<TelemetryRecordBenchmarks, int, GpuSample>? _workerLoop;
    private GpuSample _workerSample;
    private volatile bool _stopping;

    /// <summary>How the readings are stamped against the collector's clock.</summary>
    public enum Stamp
    {
        /// <summary>Now.</summary>
        Fresh,

        /// <summary>A minute ago: older than the staleness limit.</summary>
        Stale,

        /// <summary>An hour ahead: the wall clock of the backend (or of the collector) was stepped.</summary>
        Future,
    }

    [Params(1, 2)]
    public int Threads { get; set; }

    [Params(Stamp.Fresh, Stamp.Stale, Stamp.Future)]
    public Stamp Readings { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var devices = Enumerable.Range(0, Devices)
            .Select(i => new GpuDevice($"GPU-00000000-0000-0000-0000-{i:D12}", i, "Bench GPU", 80L << 30, GpuBackendKind.Simulated))
            .ToArray();
        _collector = new TelemetryCollector(devices, new TelemetryOptions { HistoryCapacity = Capacity }, TimeProvider.System);
        _uuids = [.. devices.Select(d => d.Uuid)];
        foreach (var uuid in _uuids)
        {
            _queues[uuid] = new Queue<GpuSample>(Capacity + 1);
        }

        _template = new GpuSample
        {
            Timestamp = DateTimeOffset.UtcNow,
            UtilizationPercent = 55,
            MemoryUtilizationPercent = 20,
            TemperatureC = 61,
            PowerW = 380,
            PowerLimitW = 700,
            MemoryUsedBytes = 20L << 30,
            MemoryTotalBytes = 80L << 30,
            SmClockMHz = 1980,
            ClockEventReasons = GpuClockEventReasons.None,
            EccCorrectedErrors = 0,
            EccUncorrectedErrors = 0,
        };

        if (Threads == 2)
        {
            _worker = new Thread(() =>
            {
                while (true)
                {
                    _go.Wait();
                    if (_stopping)
                    {
                        return;
                    }

                    _workerLoop!(this, 1, _workerSample);
                    _done.Release();
                }
            })
            { IsBackground = true, Name = "bench-worker" };
            _worker.Start();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_worker is not null)
        {
            _stopping = true;
            _go.Release();
            _worker.Join();
        }

        _collector.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = PerThread, Description = "lock + Queue<T> record")]
    [BenchmarkCategory("Record")]
    public void RecordBaseline() => OnThreads(static (self, thread, sample) => self.BaselineLoop(thread, sample));

    [Benchmark(OperationsPerInvoke = PerThread, Description = "Record(uuid, sample)")]
    [BenchmarkCategory("Record")]
    public void Record() => OnThreads(static (self, thread, sample) => self.CollectorLoop(thread, sample));

    /// <summary>Stamps this invocation's reading and runs <paramref name="loop"/> on every thread (the caller's being thread 0).</summary>
    private void OnThreads(Action<TelemetryRecordBenchmarks, int, GpuSample> loop)
    {
        var now = DateTimeOffset.UtcNow;
        var sample = _template with
        {
            Timestamp = Readings switch
            {
                Stamp.Stale => now.AddMinutes(-1),
                Stamp.Future => now.AddHours(1),
                _ => now,
            },
        };
        if (Threads == 1)
        {
            loop(this, 0, sample);
            return;
        }

        _workerLoop = loop;
        _workerSample = sample;
        _go.Release();
        loop(this, 0, sample);
        _done.Wait();
    }

    private void CollectorLoop(int thread, GpuSample sample)
    {
        var uuids = _uuids;
        var step = Threads;
        for (int i = 0, d = thread; i < PerThread; i++)
        {
            _collector.Record(uuids[d], sample);
            d += step;
            if (d >= uuids.Length)
            {
                d = thread;
            }
        }
    }

    private void BaselineLoop(int thread, GpuSample sample)
    {
        var uuids = _uuids;
        var step = Threads;
        for (int i = 0, d = thread; i < PerThread; i++)
        {
            lock (_gate)
            {
                var queue = _queues[uuids[d]];
                queue.Enqueue(sample);
                while (queue.Count > Capacity)
                {
                    queue.Dequeue();
                }
            }

            d += step;
            if (d >= uuids.Length)
            {
                d = thread;
            }
        }
    }
}
