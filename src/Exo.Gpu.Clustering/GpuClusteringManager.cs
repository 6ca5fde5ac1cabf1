using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Distribution;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exo.Gpu.Clustering;

/// <summary>
/// The one object a host creates: it owns the backends, the telemetry collector and its poller, the device selector
/// with its leases, and rediscovery; it starts them in that order and stops them in reverse.
/// </summary>
/// <remarks>
/// <para><b>Creating one.</b> <see cref="StartAsync(GpuClusteringOptions?, CancellationToken)"/> creates and starts a
/// manager in one call. A host that builds its services synchronously (dependency injection) constructs it with
/// <see cref="GpuClusteringManager(GpuClusteringOptions?, GpuClusteringServices?)"/>, which only checks the options and
/// the services (clock, logging, metrics, backends: <see cref="GpuClusteringServices"/>), and starts it later with
/// <see cref="StartAsync(CancellationToken)"/>; until then every operation throws
/// <see cref="InvalidOperationException"/>. <see cref="ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/> discovers and reads every device once without
/// keeping anything running (one <c>nvidia-smi</c> call). Every member is thread safe.</para>
/// <para><b>Without the poller.</b> With <see cref="GpuClusteringOptions.EnablePoller"/> off, readings move only when
/// the caller asks (<see cref="RefreshTelemetryAsync"/>); the backend's events (lost devices, critical Xids, ECC
/// errors) are still applied as they come.</para>
/// <para><b>Shutdown.</b> From the first call of <see cref="ShutdownAsync"/> or <see cref="DisposeAsync"/>, every
/// operation fails fast with <see cref="ObjectDisposedException"/>; waiting acquirers fail with
/// <see cref="ObjectDisposedException"/>; every lease is revoked (its token fires) and the manager waits up to
/// <see cref="GpuClusteringOptions.DrainTimeout"/> (on the manager's clock, from the first call) for holders to
/// release. When the first call returns, the waiting acquirers have failed and every lease token is cancelled (its
/// callbacks run on the thread pool). A start in progress is cancelled; in-flight refreshes and rediscoveries are
/// cancelled and awaited; the poller stops; subscriber channels complete; the backends are disposed. Everything after
/// the drain shares one deadline, <see cref="GpuClusteringOptions.StopTimeout"/>: a part that has not stopped by then
/// (a backend that ignores its token, a disposal hung in the driver) is logged and abandoned, so shutdown returns within
/// <see cref="GpuClusteringOptions.DrainTimeout"/> + <see cref="GpuClusteringOptions.StopTimeout"/> whatever the
/// backend does. Idempotent and safe to call concurrently; no fixed sleeps anywhere.</para>
/// <para><b>Discovery.</b> Each backend's discovery is bounded by <see cref="GpuClusteringOptions.DiscoveryTimeout"/>
/// (see <see cref="IGpuBackend"/> for what the library bounds and what a backend must do).</para>
/// </remarks>
public sealed partial class GpuClusteringManager : IAsyncDisposable
{
    /// <summary>Constructed, not started.</summary>
    private const int Created = 0;

    /// <summary><see cref="StartAsync(CancellationToken)"/> in progress.</summary>
    private const int Starting = 1;

    /// <summary>Started: operations are served.</summary>
    private const int Running = 2;

    /// <summary>Shutdown begun (or the start failed): operations throw <see cref="ObjectDisposedException"/>.</summary>
    private const int Closing = 3;

    /// <summary>The settings, checked by the constructor and read by the start.</summary>
    private readonly GpuClusteringOptions _options;

    /// <summary>The services, copied at construction.</summary>
    private readonly GpuClusteringServices _services;

    /// <summary>The backends given in the services (owned from construction: disposed by the start's rollback or by shutdown).</summary>
    private readonly IGpuBackend[] _givenBackends;

    /// <summary>The clock of every timer.</summary>
    private readonly TimeProvider _time;

    /// <summary>The manager's log.</summary>
    private readonly ILogger _logger;

    /// <summary>Cancelled when shutdown begins: stops the start, refreshes, rediscoveries and the periodic loop.</summary>
    private readonly CancellationTokenSource _closing = new();

    /// <summary>One rediscovery at a time.</summary>
    private readonly SemaphoreSlim _rediscovery = new(1, 1);

    /// <summary>Guards <see cref="_state"/>, <see cref="_start"/>, <see cref="_shutdown"/>, <see cref="_inFlight"/> and <see cref="_idle"/>.</summary>
    private readonly Lock _gate = new();

    /// <summary>The running parts, set once the start has succeeded (read only while <see cref="Running"/> or after).</summary>
    private Components? _parts;

    /// <summary>The start, once asked for.</summary>
    private Task? _start;

    /// <summary>The shutdown, once asked for.</summary>
    private TaskCompletionSource? _shutdown;

    /// <summary>Completed when the last in-flight refresh or rediscovery ends during shutdown.</summary>
    private TaskCompletionSource? _idle;

    /// <summary>Refreshes and rediscoveries in progress.</summary>
    private int _inFlight;

    /// <summary><see cref="Created"/>, <see cref="Starting"/>, <see cref="Running"/> or <see cref="Closing"/>.</summary>
    private int _state;

    /// <summary>
    /// Creates a manager without starting it: checks the options and the services and takes over
    /// <see cref="GpuClusteringServices.Backends"/> (disposed when the manager stops, or when its start fails). Nothing
    /// is discovered until <see cref="StartAsync(CancellationToken)"/>. Synchronous and free of I/O, so a dependency
    /// injection container can build it.
    /// </summary>
    /// <param name="options">The settings; defaults (automatic backend) when <see langword="null"/>. Do not change them afterwards.</param>
    /// <param name="services">The clock, logger factory, meter factory and backends; defaults (system clock, no logging, the backend made from <see cref="GpuClusteringOptions.BackendChoice"/>) when <see langword="null"/>. Read once, here.</param>
    /// <exception cref="ArgumentException">The options or the services are invalid; the message lists every problem (nothing is taken over).</exception>
    public GpuClusteringManager(GpuClusteringOptions? options = null, GpuClusteringServices? services = null)
    {
        options ??= new GpuClusteringOptions();
        services ??= new GpuClusteringServices();
        ThrowIfInvalid(options, services);
        _options = options;
        _services = services.Freeze();
        _givenBackends = [.. _services.Backends];
        _time = _services.TimeProvider;
        _logger = (ILogger?)_services.LoggerFactory?.CreateLogger<GpuClusteringManager>() ?? NullLogger.Instance;
    }

    /// <summary>Raised when a device joins the cluster: found by a later discovery, or back after being lost (with a fresh history).</summary>
    public event EventHandler<GpuDeviceEventArgs>? DeviceAdded;

    /// <summary>Raised when a device is lost (the backend says so, or discovery no longer lists it); its leases are revoked.</summary>
    public event EventHandler<GpuDeviceEventArgs>? DeviceLost;

    /// <summary>Raised after a device's health changes. Raised in order from one background task, outside every lock.</summary>
    public event EventHandler<GpuHealthChangedEventArgs>? HealthChanged;

    /// <summary>The kind of the first backend (the simulated cluster or NVML).</summary>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    public GpuBackendKind BackendKind => (_parts ?? throw NotStarted()).Backend.Kind;

    /// <summary>Why the automatic backend choice fell back to the simulated cluster, or <see langword="null"/> (also before the start).</summary>
    public string? BackendFallbackReason => _parts?.FallbackReason;

    /// <summary>Every device known, lost ones included.</summary>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public IReadOnlyList<GpuDevice> Devices => Open().Collector.Devices;

    /// <summary>The telemetry: history, summaries, health, streams.</summary>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public TelemetryCollector Telemetry => Open().Collector;

    /// <summary>The device selector and its leases.</summary>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public DeviceSelector Selector => Open().Selector;

    /// <summary>Whether the start has succeeded (and shutdown has not begun).</summary>
    public bool IsRunning => Volatile.Read(ref _state) == Running;

    /// <summary>Whether shutdown has begun (or the start failed).</summary>
    public bool IsShuttingDown => Volatile.Read(ref _state) == Closing;

    /// <summary>The health, latest reading and freshness of a device.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <returns>The status.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public GpuDeviceStatus GetStatus(string uuid) => Open().Collector.GetStatus(uuid);

    /// <summary>The status of every known device.</summary>
    /// <returns>One status per device.</returns>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public IReadOnlyList<GpuDeviceStatus> GetStatuses() => Open().Collector.GetStatuses();

    /// <summary>The cluster aggregate (device count, memory, mean utilization and temperature, total power) from fresh readings only.</summary>
    /// <returns>The aggregate.</returns>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public ClusterTelemetry GetClusterTelemetry() => Open().Collector.GetClusterTelemetry();

    /// <summary>
    /// The best device now with at least <paramref name="minimumFreeMemoryBytes"/> free after reservations: healthy,
    /// fresh, not hot (the earlier design's "select best" with its faults fixed). Reserves nothing: use
    /// <see cref="TryAcquire"/> or <see cref="AcquireAsync"/> to hold the memory.
    /// </summary>
    /// <param name="minimumFreeMemoryBytes">Free memory needed, 0 or more.</param>
    /// <returns>The device.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minimumFreeMemoryBytes"/> is negative.</exception>
    /// <exception cref="NoEligibleGpuException">No device qualifies; the message names the nearest and why.</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public GpuDevice SelectBest(long minimumFreeMemoryBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumFreeMemoryBytes);
        return Open().Selector.Select(new GpuRequest { MemoryBytes = minimumFreeMemoryBytes });
    }

    /// <summary>Reserves capacity now, without waiting. See <see cref="DeviceSelector.TryAcquire"/>.</summary>
    /// <param name="request">What is needed.</param>
    /// <param name="lease">The lease when granted.</param>
    /// <returns>Whether a lease was granted.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The request is invalid for this cluster (e.g. more devices than exist).</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public bool TryAcquire(GpuRequest request, out GpuLease lease) => Open().Selector.TryAcquire(request, out lease);

    /// <summary>Reserves capacity, waiting in FIFO order until it frees. See <see cref="DeviceSelector.AcquireAsync"/>.</summary>
    /// <param name="request">What is needed.</param>
    /// <param name="cancellationToken">Stops waiting (use it for timeouts).</param>
    /// <returns>The lease; dispose it to release.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The request is invalid for this cluster.</exception>
    /// <exception cref="OperationCanceledException">The token fired while waiting; nothing stays reserved.</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped (also for a request waiting when shutdown begins).</exception>
    public ValueTask<GpuLease> AcquireAsync(GpuRequest request, CancellationToken cancellationToken = default) =>
        Open().Selector.AcquireAsync(request, cancellationToken);

    /// <summary>Per-device reserved bytes, active leases and waiters, and the lease counters.</summary>
    /// <returns>The snapshot.</returns>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public GpuLeaseSnapshot GetLeaseSnapshot() => Open().Selector.GetSnapshot();

    /// <summary>
    /// Splits <paramref name="items"/> items evenly over the devices usable now (healthy or degraded, with a fresh
    /// reading): exact, nothing dropped, nothing on a lost or unhealthy device.
    /// </summary>
    /// <param name="items">How many items, 0 or more.</param>
    /// <returns>The usable devices and the plan over them (index <c>i</c> of the plan is device <c>i</c>).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="items"/> is negative or above <see cref="WorkloadDistributor.MaxItems"/>.</exception>
    /// <exception cref="NoEligibleGpuException">No device is usable now.</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public ClusterWorkPlan DistributeUniform(long items) => Distribute(items, DeviceWeightSource.Uniform);

    /// <summary>
    /// Splits <paramref name="items"/> items over the devices usable now in proportion to their free memory (from their
    /// latest fresh reading): exact, nothing dropped, nothing on a lost or unhealthy device, nor on one whose reading
    /// lacks memory figures.
    /// </summary>
    /// <param name="items">How many items, 0 or more.</param>
    /// <returns>The usable devices and the plan over them (index <c>i</c> of the plan is device <c>i</c>).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="items"/> is negative or above <see cref="WorkloadDistributor.MaxItems"/>.</exception>
    /// <exception cref="NoEligibleGpuException">No device is usable now.</exception>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public ClusterWorkPlan DistributeByCapacity(long items) => Distribute(items, DeviceWeightSource.FreeMemory);

    /// <summary>Reads every device now (as one poller tick does), so telemetry is current without waiting for the poller.</summary>
    /// <param name="cancellationToken">Cancels the refresh.</param>
    /// <returns>A task that completes when every reading was recorded or failed, and the health changes they caused were
    /// applied to the leases (revocations done, waiters served).</returns>
    /// <exception cref="InvalidOperationException">The manager has not started.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    /// <exception cref="OperationCanceledException">The token fired, or shutdown began during the refresh.</exception>
    public async Task RefreshTelemetryAsync(CancellationToken cancellationToken = default)
    {
        var parts = Enter(cancellationToken, out var linked);
        try
        {
            await parts.Poller.PollOnceAsync(linked.Token).ConfigureAwait(false);
            await parts.Selector.WhenHealthChangesAppliedAsync(linked.Token).ConfigureAwait(false);
            linked.Token.ThrowIfCancellationRequested();
        }
        finally
        {
            linked.Dispose();
            Exit();
        }
    }

    /// <summary>Throws one exception listing every problem with the options and the services.</summary>
    /// <exception cref="ArgumentException">There is a problem; the parameter named is the first object that has one.</exception>
    private static void ThrowIfInvalid(GpuClusteringOptions options, GpuClusteringServices services)
    {
        var optionErrors = options.Errors();
        var serviceErrors = services.Validate();
        if (optionErrors.Count > 0 || serviceErrors.Count > 0)
        {
            throw new ArgumentException(
                "Invalid GPU cluster options: " + string.Join(" ", optionErrors.Concat(serviceErrors)),
                optionErrors.Count > 0 ? nameof(options) : nameof(services));
        }
    }

    private static InvalidOperationException NotStarted() => new("The GPU cluster has not started: call StartAsync first.");

    /// <summary>The running parts, or the exception for the state the manager is in.</summary>
    private Components Open()
    {
        var state = Volatile.Read(ref _state);
        if (state == Running)
        {
            return _parts!;
        }

        ObjectDisposedException.ThrowIf(state == Closing, this);
        throw NotStarted();
    }

    /// <summary>Counts an operation in flight (shutdown waits for it) and links its token to shutdown.</summary>
    private Components Enter(CancellationToken cancellationToken, out CancellationTokenSource linked)
    {
        Components parts;
        lock (_gate)
        {
            parts = Open();
            _inFlight++;
        }

        linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        return parts;
    }

    private void Exit()
    {
        TaskCompletionSource? idle = null;
        lock (_gate)
        {
            if (--_inFlight == 0 && _idle is not null)
            {
                idle = _idle;
                _idle = null;
            }
        }

        idle?.TrySetResult();
    }

    private ClusterWorkPlan Distribute(long items, DeviceWeightSource source)
    {
        var collector = Open().Collector;
        ArgumentOutOfRangeException.ThrowIfNegative(items);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(items, WorkloadDistributor.MaxItems);
        var usable = new List<GpuDevice>();
        var samples = new List<GpuSample>();
        foreach (var status in collector.GetStatuses())
        {
            // By free memory, a device that reports no memory readings cannot be weighed: it is left out.
            if (status is { IsFresh: true, Latest: { } latest, Health: GpuHealth.Healthy or GpuHealth.Degraded }
                && (source != DeviceWeightSource.FreeMemory || latest.MemoryFreeBytes is not null))
            {
                usable.Add(status.Device);
                samples.Add(latest);
            }
        }

        if (usable.Count == 0)
        {
            throw new NoEligibleGpuException("No device is usable now: every device is lost, unhealthy or without a fresh reading.");
        }

        var weights = DeviceWeights.From(usable, source, samples);
        if (Array.TrueForAll(weights, w => w == 0))
        {
            throw new NoEligibleGpuException("No usable device has free memory now.");
        }

        return new ClusterWorkPlan(usable, WorkloadDistributor.Plan(items, weights));
    }

    private void Raise<T>(EventHandler<T>? handler, T args, string name)
    {
        if (handler is null)
        {
            return;
        }

        // One by one: a throwing handler must not keep the event from the handlers after it.
        foreach (var one in handler.GetInvocationList())
        {
            try
            {
                ((EventHandler<T>)one)(this, args);
            }
#pragma warning disable CA1031 // A host's handler must not stop the cluster's event flow.
            catch (Exception e)
#pragma warning restore CA1031
            {
                ManagerLog.HandlerFailed(_logger, name, e);
            }
        }
    }

    /// <summary>What a started manager runs, in start order.</summary>
    /// <param name="Backend">Every backend, as one.</param>
    /// <param name="FallbackReason">Why the automatic choice fell back to the simulated cluster, or <see langword="null"/>.</param>
    /// <param name="Collector">The telemetry collector.</param>
    /// <param name="Selector">The device selector and its leases.</param>
    /// <param name="Poller">The poller (readings and the backend's events).</param>
    /// <param name="HealthPump">Raises <see cref="HealthChanged"/> and <see cref="DeviceLost"/>; ends when the collector completes its channel.</param>
    /// <param name="RediscoveryLoop">Periodic rediscovery, or a completed task.</param>
    private sealed record Components(
        CompositeGpuBackend Backend,
        string? FallbackReason,
        TelemetryCollector Collector,
        DeviceSelector Selector,
        TelemetryPoller Poller,
        Task HealthPump,
        Task RediscoveryLoop);
}
