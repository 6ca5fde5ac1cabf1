using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
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
/// <para>Create one with <see cref="StartAsync"/>. Every member is thread safe.</para>
/// <para><b>Shutdown.</b> From the first call of <see cref="ShutdownAsync"/> or <see cref="DisposeAsync"/>, every
/// operation fails fast with <see cref="ObjectDisposedException"/>; waiting acquirers fail with
/// <see cref="ObjectDisposedException"/>; every lease is revoked (its token fires) and the manager waits up to
/// <see cref="GpuClusteringOptions.DrainTimeout"/> (on the manager's clock, from the first call) for holders to
/// release. When the first call returns, the waiting acquirers have failed and every lease token is cancelled (its
/// callbacks run on the thread pool). In-flight refreshes and rediscoveries are cancelled and awaited; the poller
/// stops; subscriber channels complete; the backends are disposed. Idempotent and safe to call concurrently; no fixed
/// sleeps anywhere.</para>
/// </remarks>
public sealed class GpuClusteringManager : IAsyncDisposable
{
    private const int Running = 0;
    private const int Closing = 1;

    private readonly CompositeGpuBackend _backend;
    private readonly TelemetryCollector _collector;
    private readonly DeviceSelector _selector;
    private readonly TelemetryPoller _poller;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _sampleTimeout;
    private readonly TimeSpan _drainTimeout;
    private readonly CancellationTokenSource _closing = new();
    private readonly SemaphoreSlim _rediscovery = new(1, 1);
    private readonly Lock _gate = new();
    private Task _healthPump = Task.CompletedTask;
    private Task _rediscoveryLoop = Task.CompletedTask;
    private TaskCompletionSource? _shutdown;
    private TaskCompletionSource? _idle;
    private int _inFlight;
    private int _state;

    private GpuClusteringManager(
        CompositeGpuBackend backend,
        TelemetryCollector collector,
        DeviceSelector selector,
        TelemetryPoller poller,
        GpuClusteringOptions options,
        string? fallbackReason,
        ILogger logger)
    {
        _backend = backend;
        _collector = collector;
        _selector = selector;
        _poller = poller;
        _time = options.TimeProvider;
        _logger = logger;
        _sampleTimeout = options.Telemetry.SampleTimeout;
        _drainTimeout = options.DrainTimeout;
        BackendFallbackReason = fallbackReason;
    }

    /// <summary>Raised when a device joins the cluster: found by a later discovery, or back after being lost (with a fresh history).</summary>
    public event EventHandler<GpuDeviceEventArgs>? DeviceAdded;

    /// <summary>Raised when a device is lost (the backend says so, or discovery no longer lists it); its leases are revoked.</summary>
    public event EventHandler<GpuDeviceEventArgs>? DeviceLost;

    /// <summary>Raised after a device's health changes. Raised in order from one background task, outside every lock.</summary>
    public event EventHandler<GpuHealthChangedEventArgs>? HealthChanged;

    /// <summary>The kind of the first backend (the simulated cluster or NVML).</summary>
    public GpuBackendKind BackendKind => _backend.Kind;

    /// <summary>Why the automatic backend choice fell back to the simulated cluster, or <see langword="null"/>.</summary>
    public string? BackendFallbackReason { get; }

    /// <summary>Every device known, lost ones included.</summary>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public IReadOnlyList<GpuDevice> Devices => Open()._collector.Devices;

    /// <summary>The telemetry: history, summaries, health, streams.</summary>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public TelemetryCollector Telemetry => Open()._collector;

    /// <summary>The device selector and its leases.</summary>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public DeviceSelector Selector => Open()._selector;

    /// <summary>Whether shutdown has begun.</summary>
    public bool IsShuttingDown => Volatile.Read(ref _state) != Running;

    /// <summary>
    /// Starts a cluster: makes or takes the backends, discovers devices and takes a first reading of each, then starts the
    /// telemetry collector, the selector, the poller and rediscovery. If any step fails, everything started so far is
    /// stopped and disposed (the given backends too) before the exception is thrown.
    /// </summary>
    /// <param name="options">The settings; defaults (automatic backend) when <see langword="null"/>. Taken over: the manager owns <see cref="GpuClusteringOptions.Backends"/>.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running manager.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    /// <exception cref="GpuClusterStartException">A step failed (<see cref="GpuClusterStartException.Step"/>): the backend could not be made, discovery failed or found no usable device, or a device's first reading failed under <see cref="GpuClusteringOptions.StrictStart"/>.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    public static async Task<GpuClusteringManager> StartAsync(GpuClusteringOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new GpuClusteringOptions();
        var logger = (ILogger?)options.LoggerFactory?.CreateLogger<GpuClusteringManager>() ?? NullLogger.Instance;
        var cleanup = new Stack<Func<ValueTask>>();
        foreach (var given in options.Backends.Where(b => b is not null).Distinct())
        {
            cleanup.Push(given.DisposeAsync);
        }

        var step = "options";
        try
        {
            var errors = options.Validate();
            if (errors.Count > 0)
            {
                throw new ArgumentException("Invalid GPU cluster options: " + string.Join(" ", errors), nameof(options));
            }

            step = "backend";
            var backends = options.Backends.ToList();
            string? fallback = null;
            if (backends.Count == 0)
            {
                var simulated = options.SimulatedOptions ?? new SimulatedGpuBackendOptions { TimeProvider = options.TimeProvider };
                var selection = await GpuBackendFactory.CreateAsync(options.BackendChoice, options.NvmlOptions, simulated, cancellationToken).ConfigureAwait(false);
                cleanup.Push(selection.Backend.DisposeAsync);
                backends.Add(selection.Backend);
                fallback = selection.FallbackReason;
            }

            var composite = new CompositeGpuBackend(backends)
            {
                Strict = options.StrictStart,
                DiscoveryFailed = (b, e) => ManagerLog.BackendDiscoveryFailed(logger, b.Kind, e),
            };

            step = "discovery";
            var found = await composite.DiscoverAsync(cancellationToken).ConfigureAwait(false);
            var devices = new List<GpuDevice>(found.Count);
            var firstReadings = new List<GpuSample>(found.Count);
            foreach (var device in found)
            {
                var (sample, error) = await ProbeAsync(composite, device, options.Telemetry.SampleTimeout, options.TimeProvider, cancellationToken).ConfigureAwait(false);
                if (error is not null)
                {
                    if (options.StrictStart)
                    {
                        throw new GpuClusterStartException(step, $"the first reading of device {device.Uuid} failed: {error.Message}", error);
                    }

                    ManagerLog.DeviceExcluded(logger, device.Uuid, error);
                    continue;
                }

                devices.Add(device);
                firstReadings.Add(sample);
            }

            if (devices.Count == 0)
            {
                throw new GpuClusterStartException(step, found.Count == 0 ? "no device was discovered" : $"none of the {found.Count} devices discovered could be read", null);
            }

            step = "telemetry";
            var collector = new TelemetryCollector(devices, options.Telemetry, options.TimeProvider, options.LoggerFactory, options.MeterFactory);
            cleanup.Push(collector.DisposeAsync);
            for (var i = 0; i < devices.Count; i++)
            {
                collector.RecordAt(i, firstReadings[i]);
            }

            step = "selector";
            var selector = new DeviceSelector(collector, options.Selector, options.TimeProvider, options.LoggerFactory?.CreateLogger<DeviceSelector>());
            cleanup.Push(selector.DisposeAsync);

            step = "poller";
            var poller = new TelemetryPoller(composite, collector);
            cleanup.Push(poller.DisposeAsync);
            var manager = new GpuClusteringManager(composite, collector, selector, poller, options, fallback, logger);
            manager._healthPump = manager.PumpHealthChangesAsync(collector.SubscribeHealthChanges(4096, CancellationToken.None));

            // The pump ends when the collector completes its channel: dispose the collector first, then wait for the pump.
            cleanup.Push(async () =>
            {
                await collector.DisposeAsync().ConfigureAwait(false);
                await manager._healthPump.ConfigureAwait(false);
            });
            if (options.EnablePoller)
            {
                await poller.StartAsync(cancellationToken).ConfigureAwait(false);
            }

            if (options.RediscoveryInterval is TimeSpan interval)
            {
                manager._rediscoveryLoop = manager.RediscoverPeriodicallyAsync(interval);
            }

            ManagerLog.Started(logger, devices.Count, backends.Count);
            return manager;
        }
        catch (Exception e)
        {
            await DisposeAllAsync(cleanup, logger).ConfigureAwait(false);
            if (e is OperationCanceledException or ArgumentException or GpuClusterStartException)
            {
                throw;
            }

            throw new GpuClusterStartException(step, e.Message, e);
        }
    }

    /// <summary>The health, latest reading and freshness of a device.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <returns>The status.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public GpuDeviceStatus GetStatus(string uuid) => Open()._collector.GetStatus(uuid);

    /// <summary>The status of every known device.</summary>
    /// <returns>One status per device.</returns>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public IReadOnlyList<GpuDeviceStatus> GetStatuses() => Open()._collector.GetStatuses();

    /// <summary>The cluster aggregate (device count, memory, mean utilization and temperature, total power) from fresh readings only.</summary>
    /// <returns>The aggregate.</returns>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public ClusterTelemetry GetClusterTelemetry() => Open()._collector.GetClusterTelemetry();

    /// <summary>
    /// The best device now with at least <paramref name="minimumFreeMemoryBytes"/> free after reservations: healthy,
    /// fresh, not hot (the earlier design's "select best" with its faults fixed). Reserves nothing: use
    /// <see cref="TryAcquire"/> or <see cref="AcquireAsync"/> to hold the memory.
    /// </summary>
    /// <param name="minimumFreeMemoryBytes">Free memory needed, 0 or more.</param>
    /// <returns>The device.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="minimumFreeMemoryBytes"/> is negative.</exception>
    /// <exception cref="NoEligibleGpuException">No device qualifies; the message names the nearest and why.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public GpuDevice SelectBest(long minimumFreeMemoryBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimumFreeMemoryBytes);
        return Open()._selector.Select(new GpuRequest { MemoryBytes = minimumFreeMemoryBytes });
    }

    /// <summary>Reserves capacity now, without waiting. See <see cref="DeviceSelector.TryAcquire"/>.</summary>
    /// <param name="request">What is needed.</param>
    /// <param name="lease">The lease when granted.</param>
    /// <returns>Whether a lease was granted.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The request is invalid for this cluster (e.g. more devices than exist).</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public bool TryAcquire(GpuRequest request, out GpuLease lease) => Open()._selector.TryAcquire(request, out lease);

    /// <summary>Reserves capacity, waiting in FIFO order until it frees. See <see cref="DeviceSelector.AcquireAsync"/>.</summary>
    /// <param name="request">What is needed.</param>
    /// <param name="cancellationToken">Stops waiting (use it for timeouts).</param>
    /// <returns>The lease; dispose it to release.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The request is invalid for this cluster.</exception>
    /// <exception cref="OperationCanceledException">The token fired while waiting; nothing stays reserved.</exception>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped (also for a request waiting when shutdown begins).</exception>
    public ValueTask<GpuLease> AcquireAsync(GpuRequest request, CancellationToken cancellationToken = default) =>
        Open()._selector.AcquireAsync(request, cancellationToken);

    /// <summary>Per-device reserved bytes, active leases and waiters, and the lease counters.</summary>
    /// <returns>The snapshot.</returns>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public GpuLeaseSnapshot GetLeaseSnapshot() => Open()._selector.GetSnapshot();

    /// <summary>
    /// Splits <paramref name="items"/> items evenly over the devices usable now (healthy or degraded, with a fresh
    /// reading): exact, nothing dropped, nothing on a lost or unhealthy device.
    /// </summary>
    /// <param name="items">How many items, 0 or more.</param>
    /// <returns>The usable devices and the plan over them (index <c>i</c> of the plan is device <c>i</c>).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="items"/> is negative or above <see cref="WorkloadDistributor.MaxItems"/>.</exception>
    /// <exception cref="NoEligibleGpuException">No device is usable now.</exception>
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
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    public ClusterWorkPlan DistributeByCapacity(long items) => Distribute(items, DeviceWeightSource.FreeMemory);

    /// <summary>Reads every device now (as one poller tick does), so telemetry is current without waiting for the poller.</summary>
    /// <param name="cancellationToken">Cancels the refresh.</param>
    /// <returns>A task that completes when every reading was recorded or failed, and the health changes they caused were
    /// applied to the leases (revocations done, waiters served).</returns>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    /// <exception cref="OperationCanceledException">The token fired, or shutdown began during the refresh.</exception>
    public async Task RefreshTelemetryAsync(CancellationToken cancellationToken = default)
    {
        using var linked = Enter(cancellationToken);
        try
        {
            await _poller.PollOnceAsync(linked.Token).ConfigureAwait(false);
            await _selector.WhenHealthChangesAppliedAsync(linked.Token).ConfigureAwait(false);
            linked.Token.ThrowIfCancellationRequested();
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// Discovers devices again now: a new device joins, a lost device that is listed again rejoins with a fresh history,
    /// and a device no longer listed is marked lost (its leases are revoked). A device joins only once its first reading succeeds.
    /// </summary>
    /// <param name="cancellationToken">Cancels the discovery.</param>
    /// <returns>The devices that joined or rejoined.</returns>
    /// <exception cref="ObjectDisposedException">The manager is shutting down or stopped.</exception>
    /// <exception cref="GpuBackendUnavailableException">Discovery failed.</exception>
    /// <exception cref="OperationCanceledException">The token fired, or shutdown began during the discovery.</exception>
    public async Task<IReadOnlyList<GpuDevice>> RediscoverAsync(CancellationToken cancellationToken = default)
    {
        using var linked = Enter(cancellationToken);
        try
        {
            return await RediscoverCoreAsync(linked.Token).ConfigureAwait(false);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>Stops the cluster (see the remarks of <see cref="GpuClusteringManager"/>). Idempotent and safe to call concurrently.</summary>
    /// <param name="cancellationToken">Stops this caller's wait; the shutdown itself goes on to the end (its drain is bounded by <see cref="GpuClusteringOptions.DrainTimeout"/>).</param>
    /// <returns>A task that completes when everything is stopped.</returns>
    /// <exception cref="OperationCanceledException">The token fired before the shutdown finished.</exception>
    public Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        TaskCompletionSource? mine = null;
        TaskCompletionSource shutdown;
        lock (_gate)
        {
            if (_shutdown is null)
            {
                _shutdown = mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                Volatile.Write(ref _state, Closing);
                if (_inFlight == 0)
                {
                    _idle = null;
                }
                else
                {
                    _idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }
            }

            shutdown = _shutdown;
        }

        if (mine is not null)
        {
            _ = RunShutdownAsync(mine);
        }

        return shutdown.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Stops the cluster and waits until it is stopped; the same as <see cref="ShutdownAsync"/> without a token.</summary>
    /// <returns>A task that completes when everything is stopped.</returns>
    public async ValueTask DisposeAsync() => await ShutdownAsync(CancellationToken.None).ConfigureAwait(false);

    private static async Task<(GpuSample Sample, Exception? Error)> ProbeAsync(
        CompositeGpuBackend backend, GpuDevice device, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            // WaitAsync: a hung driver that ignores its token cannot hold the start beyond the timeout.
            var sample = await backend.SampleAsync(device, linked.Token).AsTask().WaitAsync(linked.Token).ConfigureAwait(false);
            SampleValidator.Validate(sample, device.TotalMemoryBytes);
            return (sample, null);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            return (default, new TimeoutException($"Device {device.Uuid} gave no reading within {timeout}.", e));
        }
#pragma warning disable CA1031 // One device's failure of any kind excludes that device (as the poller treats it), never the start.
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            return (default, e);
        }
    }

    private static async ValueTask DisposeAllAsync(Stack<Func<ValueTask>> cleanup, ILogger logger)
    {
        while (cleanup.TryPop(out var dispose))
        {
            try
            {
                await dispose().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Every component is stopped; a failure is logged, not allowed to leave the rest running.
            catch (Exception e)
#pragma warning restore CA1031
            {
                ManagerLog.StopFailed(logger, dispose.Target?.GetType().Name ?? "component", e);
            }
        }
    }

    private GpuClusteringManager Open()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _state) != Running, this);
        return this;
    }

    private CancellationTokenSource Enter(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_state != Running, this);
            _inFlight++;
        }

        return CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
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
        Open();
        ArgumentOutOfRangeException.ThrowIfNegative(items);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(items, WorkloadDistributor.MaxItems);
        var usable = new List<GpuDevice>();
        var samples = new List<GpuSample>();
        foreach (var status in _collector.GetStatuses())
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

    private async Task<IReadOnlyList<GpuDevice>> RediscoverCoreAsync(CancellationToken cancellationToken)
    {
        await _rediscovery.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var (found, failed) = await _backend.DiscoverEachAsync(cancellationToken).ConfigureAwait(false);
            var known = new Dictionary<string, bool>(StringComparer.Ordinal);
            foreach (var status in _collector.GetStatuses())
            {
                known[status.Device.Uuid] = status.Health == GpuHealth.Lost;
            }

            var joined = new List<(GpuDevice Device, bool Rejoined)>();
            var listed = new HashSet<string>(StringComparer.Ordinal);
            foreach (var device in found)
            {
                listed.Add(device.Uuid);
                var isKnown = known.TryGetValue(device.Uuid, out var lost);
                if (isKnown && !lost)
                {
                    continue;
                }

                var (sample, error) = await ProbeAsync(_backend, device, _sampleTimeout, _time, cancellationToken).ConfigureAwait(false);
                if (error is not null)
                {
                    ManagerLog.DeviceExcluded(_logger, device.Uuid, error);
                    continue;
                }

                var slot = _collector.AddOrRejoin(device);
                try
                {
                    _collector.RecordAt(slot, sample);
                }
                catch (GpuSampleValidationException)
                {
                    // The poller recorded a newer reading since the device rejoined: keep that one.
                }

                joined.Add((device, isKnown));
                ManagerLog.DeviceAdded(_logger, device.Uuid, isKnown);
            }

            foreach (var slot in _collector.Slots)
            {
                // A backend whose discovery failed lists nothing, which does not mean its devices are gone.
                if (!slot.IsLost && !listed.Contains(slot.Device.Uuid) && !IsOwnedByAny(slot.Device.Uuid, failed))
                {
                    ManagerLog.DeviceVanished(_logger, slot.Device.Uuid);
                    _collector.MarkLost(slot.Index, "no longer discovered");
                }
            }

            foreach (var (device, rejoined) in joined)
            {
                Raise(DeviceAdded, new GpuDeviceEventArgs(device, rejoined, rejoined ? "discovered again after being lost" : "discovered"), nameof(DeviceAdded));
            }

            return [.. joined.Select(j => j.Device)];
        }
        finally
        {
            _rediscovery.Release();
        }
    }

    private bool IsOwnedByAny(string uuid, IReadOnlyCollection<IGpuBackend> backends) =>
        backends.Count != 0 && _backend.OwnerOf(uuid) is { } owner && backends.Contains(owner);

    private async Task RediscoverPeriodicallyAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(_closing.Token).ConfigureAwait(false))
            {
                try
                {
                    await RediscoverCoreAsync(_closing.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException || !_closing.IsCancellationRequested)
                {
                    ManagerLog.RediscoveryFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            // Shutdown.
        }
    }

    private async Task PumpHealthChangesAsync(System.Threading.Channels.ChannelReader<GpuHealthChange> changes)
    {
        await Task.Yield();
        await foreach (var change in changes.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            Raise(HealthChanged, new GpuHealthChangedEventArgs(change), nameof(HealthChanged));
            if (change.Current == GpuHealth.Lost && change.Previous != GpuHealth.Lost)
            {
                Raise(DeviceLost, new GpuDeviceEventArgs(change.Device, false, change.Reason), nameof(DeviceLost));
            }
        }
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

    private async Task RunShutdownAsync(TaskCompletionSource done)
    {
        try
        {
            ManagerLog.ShuttingDown(_logger);

            // Before the first await, on the first caller's thread: when ShutdownAsync returns, waiting acquirers have
            // failed, every lease is revoked, and the drain deadline counts from this call on the manager's clock.
            _selector.BeginShutdown();
            using var drain = new CancellationTokenSource(_drainTimeout, _time);
            await _closing.CancelAsync().ConfigureAwait(false);
            try
            {
                await _selector.WhenDrainedAsync(drain.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                ManagerLog.DrainTimedOut(_logger, _drainTimeout, _selector.GetSnapshot().ActiveLeases);
            }

            Task idle;
            lock (_gate)
            {
                idle = _idle?.Task ?? Task.CompletedTask;
            }

            var steps = new Stack<Func<ValueTask>>();
            steps.Push(_backend.DisposeAsync);
            steps.Push(async () => await _healthPump.ConfigureAwait(false));
            steps.Push(_collector.DisposeAsync);
            steps.Push(_selector.DisposeAsync);
            steps.Push(_poller.DisposeAsync);
            steps.Push(async () => await _rediscoveryLoop.ConfigureAwait(false));
            steps.Push(async () => await idle.ConfigureAwait(false));
            await DisposeAllAsync(steps, _logger).ConfigureAwait(false);
            _closing.Dispose();
            _rediscovery.Dispose();
            ManagerLog.Stopped(_logger);
        }
#pragma warning disable CA1031 // Shutdown must complete for every caller whatever fails; the failure is logged.
        catch (Exception e)
#pragma warning restore CA1031
        {
            ManagerLog.StopFailed(_logger, nameof(GpuClusteringManager), e);
        }
        finally
        {
            done.TrySetResult();
        }
    }
}

/// <summary>The devices a manager's distribution used and the plan over them.</summary>
/// <param name="Devices">The usable devices, in the order of the plan's counts.</param>
/// <param name="Plan">The plan; <c>Plan.Counts[i]</c> items go to <c>Devices[i]</c>.</param>
public sealed record ClusterWorkPlan(IReadOnlyList<GpuDevice> Devices, DistributionPlan Plan);

/// <summary>A device's health changed.</summary>
public sealed class GpuHealthChangedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="change">The change.</param>
    /// <exception cref="ArgumentNullException"><paramref name="change"/> is <see langword="null"/>.</exception>
    public GpuHealthChangedEventArgs(GpuHealthChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Change = change;
    }

    /// <summary>The change.</summary>
    public GpuHealthChange Change { get; }
}
