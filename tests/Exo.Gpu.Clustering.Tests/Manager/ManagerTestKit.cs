using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary>Clocks, options, backends and event recorders for the manager tests.</summary>
internal static class ManagerTestKit
{
    public const long GiB = 1L << 30;

    public static readonly DateTimeOffset Start = TelemetryTestKit.Start;

    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    public static readonly TimeSpan SampleTimeout = TimeSpan.FromMilliseconds(250);

    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long any await may take before the test fails instead of hanging: a guard, never a timing.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    // Log event ids of the manager (Log.cs).
    public const int StartedEvent = 100;
    public const int DeviceExcludedEvent = 101;
    public const int BackendDiscoveryFailedEvent = 102;
    public const int ShuttingDownEvent = 106;
    public const int DrainTimedOutEvent = 107;
    public const int StoppedEvent = 108;
    public const int HandlerFailedEvent = 109;

    /// <summary>Options on a fake clock: no poller, no periodic rediscovery, a 10 s drain; the services carry the clock, the logs and the given backends.</summary>
    public static ManagerSetup Options(FakeTimeProvider time, FakeLoggerFactory? logs, params IGpuBackend[] backends)
    {
        var options = new GpuClusteringOptions
        {
            EnablePoller = false,
            RediscoveryInterval = null,
            DrainTimeout = DrainTimeout,
            Telemetry = new TelemetryOptions
            {
                PollInterval = PollInterval,
                SampleTimeout = SampleTimeout,
                StalenessLimit = TimeSpan.FromSeconds(5),
                MaxBackoff = TimeSpan.FromSeconds(8),
            },
            Selector = new DeviceSelectorOptions { Seed = 7 },
        };
        var services = new GpuClusteringServices { TimeProvider = time, LoggerFactory = logs };
        foreach (var backend in backends)
        {
            services.Backends.Add(backend);
        }

        return new ManagerSetup(options, services);
    }

    public static SimulatedGpuBackend Simulated(FakeTimeProvider time, int devices = 4, string faults = "", int seed = 1) => new(
        new SimulatedGpuBackendOptions
        {
            DeviceCount = devices,
            Faults = faults,
            Seed = seed,
        },
        time);

    /// <summary>Starts a manager over a simulated cluster of <paramref name="devices"/> H100s on <paramref name="time"/>.</summary>
    public static async Task<(GpuClusteringManager Manager, SimulatedGpuBackend Backend)> StartSimulatedAsync(
        FakeTimeProvider time, int devices = 4, string faults = "", FakeLoggerFactory? logs = null, Action<GpuClusteringOptions>? configure = null)
    {
        var backend = Simulated(time, devices, faults);
        var setup = Options(time, logs, backend);
        configure?.Invoke(setup.Options);
        var manager = await setup.StartAsync().WaitAsync(Guard);
        return (manager, backend);
    }

    /// <summary>
    /// Stops the manager at the end of a test, even one that failed while holding a lease: the fake clock is moved past
    /// the drain timeout, so the drain cannot wait forever.
    /// </summary>
    public static IAsyncDisposable Stop(GpuClusteringManager manager, FakeTimeProvider time) => new Stopper(manager, time);

    /// <summary>Completes when <paramref name="token"/> fires (the test's guard bounds the wait).</summary>
    public static Task WhenCanceled(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => fired.TrySetResult());
        return fired.Task;
    }

    /// <summary>How many log records carry the event id.</summary>
    public static int Logged(FakeLoggerFactory logs, int eventId) => logs.Collector.GetSnapshot().Count(r => r.Id.Id == eventId);

    /// <summary>A complete, healthy reading of an 80 GiB device.</summary>
    public static GpuSample Sample(DateTimeOffset at, long usedBytes = 10 * GiB, long eccUncorrected = 0, double temperature = 50) => new()
    {
        Timestamp = at,
        UtilizationPercent = 30,
        MemoryUtilizationPercent = 15,
        TemperatureC = temperature,
        PowerW = 250,
        PowerLimitW = 700,
        MemoryUsedBytes = usedBytes,
        MemoryTotalBytes = 80 * GiB,
        SmClockMHz = 1980,
        ClockEventReasons = GpuClockEventReasons.None,
        EccCorrectedErrors = 0,
        EccUncorrectedErrors = eccUncorrected,
    };
}

/// <summary>The options and the services of a manager under test.</summary>
/// <param name="Options">The settings (data only).</param>
/// <param name="Services">The clock, the logs and the backends.</param>
internal sealed record ManagerSetup(GpuClusteringOptions Options, GpuClusteringServices Services)
{
    /// <summary>Creates and starts a manager.</summary>
    public Task<GpuClusteringManager> StartAsync(CancellationToken cancellationToken = default) =>
        GpuClusteringManager.StartAsync(Options, Services, cancellationToken);

    /// <summary>Reads every device once.</summary>
    public Task<GpuClusterSnapshot> ReadOnceAsync(CancellationToken cancellationToken = default) =>
        GpuClusteringManager.ReadOnceAsync(Options, Services, cancellationToken);

    /// <summary>Creates a manager without starting it.</summary>
    public GpuClusteringManager Create() => new(Options, Services);
}

/// <summary>
/// A scriptable <see cref="IGpuBackend"/>: discovery and sampling do what the test says (throw, list nothing, hang),
/// and every call and disposal is counted, so a test can tell whether anything still runs.
/// </summary>
internal sealed class FakeGpuBackend : IGpuBackend
{
    private readonly FakeTimeProvider _time;
    private int _discoverCalls;
    private int _sampleCalls;
    private int _disposeCalls;

    public FakeGpuBackend(FakeTimeProvider time, int devices, string name = "a")
    {
        _time = time;
        AllDevices = [.. Enumerable.Range(0, devices).Select(i => new GpuDevice(
            string.Create(CultureInfo.InvariantCulture, $"GPU-fake-{name}-{i}"), i, "Fake GPU", 80 * ManagerTestKit.GiB, GpuBackendKind.Simulated))];
        Listed = AllDevices;
    }

    public GpuBackendKind Kind => GpuBackendKind.Simulated;

    public IReadOnlyList<GpuDevice> AllDevices { get; }

    /// <summary>What discovery lists (every device unless the test says otherwise).</summary>
    public IReadOnlyList<GpuDevice> Listed { get; set; }

    /// <summary>Replaces discovery when set.</summary>
    public Func<CancellationToken, ValueTask<IReadOnlyList<GpuDevice>>>? OnDiscover { get; set; }

    /// <summary>Replaces sampling when set (the default is a healthy reading stamped now).</summary>
    public Func<GpuDevice, CancellationToken, ValueTask<GpuSample>>? OnSample { get; set; }

    /// <summary>Replaces disposal when set (it is still counted).</summary>
    public Func<ValueTask>? OnDispose { get; set; }

    /// <summary>Discovery that never returns and ignores its token, as a hung driver.</summary>
    public static ValueTask<IReadOnlyList<GpuDevice>> DiscoverHangingIgnoringToken(CancellationToken cancellationToken) =>
        new(new TaskCompletionSource<IReadOnlyList<GpuDevice>>().Task);

    /// <summary>Completed when discovery is first entered.</summary>
    public TaskCompletionSource DiscoverEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed when sampling is first entered.</summary>
    public TaskCompletionSource SampleEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int DiscoverCalls => Volatile.Read(ref _discoverCalls);

    public int SampleCalls => Volatile.Read(ref _sampleCalls);

    public int DisposeCalls => Volatile.Read(ref _disposeCalls);

    public bool IsDisposed => DisposeCalls > 0;

    /// <summary>Sampling that never returns and ignores its token, as a hung driver.</summary>
    public static ValueTask<GpuSample> HangIgnoringToken(GpuDevice device, CancellationToken cancellationToken) =>
        new(new TaskCompletionSource<GpuSample>().Task);

    /// <summary>Sampling that returns only when its token fires (then throws <see cref="OperationCanceledException"/>).</summary>
    public static async ValueTask<GpuSample> HangUntilCanceled(GpuDevice device, CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        throw new InvalidOperationException("unreachable");
    }

    public GpuSample HealthySample() => ManagerTestKit.Sample(_time.GetUtcNow());

    public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _discoverCalls);
        DiscoverEntered.TrySetResult();
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        return OnDiscover is { } discover ? discover(cancellationToken) : new ValueTask<IReadOnlyList<GpuDevice>>(Listed);
    }

    public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        Interlocked.Increment(ref _sampleCalls);
        SampleEntered.TrySetResult();
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return OnSample is { } sample ? sample(device, cancellationToken) : new ValueTask<GpuSample>(HealthySample());
    }

    public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.CompletedTask;
        yield break;
    }

    public ValueTask DisposeAsync()
    {
        Interlocked.Increment(ref _disposeCalls);
        return OnDispose is { } dispose ? dispose() : ValueTask.CompletedTask;
    }
}

/// <summary>Records the manager's events in order, and lets a test await a particular one.</summary>
internal sealed class ManagerEvents
{
    private readonly Channel<object> _channel = Channel.CreateUnbounded<object>();
    private readonly List<object> _seen = [];
    private readonly HashSet<object> _returned = new(ReferenceEqualityComparer.Instance);

    public ManagerEvents(GpuClusteringManager manager)
    {
        manager.DeviceAdded += (_, e) => _channel.Writer.TryWrite(new Added(e));
        manager.DeviceLost += (_, e) => _channel.Writer.TryWrite(new Lost(e));
        manager.HealthChanged += (_, e) => _channel.Writer.TryWrite(e.Change);
    }

    /// <summary>Every event read so far by <see cref="WaitForAsync{T}"/> or <see cref="Drain"/>.</summary>
    public IReadOnlyList<object> Seen => _seen;

    /// <summary>
    /// The first event of type <typeparamref name="T"/> that matches and was not returned before, read so far or
    /// awaited (failing after the guard). Events raised from different threads may arrive in either order, so a wait
    /// for one never loses another read meanwhile.
    /// </summary>
    public async Task<T> WaitForAsync<T>(Func<T, bool>? match = null)
    {
        using var guard = new CancellationTokenSource(ManagerTestKit.Guard);
        for (var i = 0; ; i++)
        {
            if (i == _seen.Count)
            {
                _seen.Add(await _channel.Reader.ReadAsync(guard.Token));
            }

            if (_seen[i] is T t && (match is null || match(t)) && _returned.Add(_seen[i]))
            {
                return t;
            }
        }
    }

    /// <summary>Reads every event already raised.</summary>
    public IReadOnlyList<object> Drain()
    {
        while (_channel.Reader.TryRead(out var next))
        {
            _seen.Add(next);
        }

        return _seen;
    }

    public sealed record Added(GpuDeviceEventArgs Args);

    public sealed record Lost(GpuDeviceEventArgs Args);
}

/// <summary>See <see cref="ManagerTestKit.Stop"/>.</summary>
internal sealed class Stopper(GpuClusteringManager manager, FakeTimeProvider time) : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        var shutdown = manager.ShutdownAsync();
        time.Advance(ManagerTestKit.DrainTimeout);
        await shutdown.WaitAsync(ManagerTestKit.Guard);
    }
}
