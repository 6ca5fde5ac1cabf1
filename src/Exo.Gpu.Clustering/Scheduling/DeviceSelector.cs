using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// Chooses devices for work and reserves capacity on them with leases, so concurrent callers never oversubscribe a
/// device. Reads device state (health, the latest reading and its age) from the telemetry collector; never calls a
/// backend.
/// </summary>
/// <remarks>
/// <para><b>Filter, rank, pick.</b> A device is eligible for a request when every constraint passes: health
/// (<see cref="GpuHealth.Healthy"/>, or <see cref="GpuHealth.Degraded"/> when the request allows it), a fresh reading
/// (no older than the request's <see cref="GpuRequest.MaxTelemetryAge"/>), below the hot limit
/// (<see cref="DeviceSelectorOptions.HotTemperatureC"/>) and the request's temperature and utilization limits, the
/// request's identity, name and compute-capability constraints, enough free memory after reservations, and a free
/// concurrency slot when slots are limited. Hot, unhealthy and stale devices are excluded, never merely scored lower.
/// The strategy (<see cref="GpuSelectionStrategy"/>) then ranks the eligible devices.</para>
/// <para><b>Free memory after reservations</b> is <c>min(capacity − reserved, observed free − headroom)</c>, where
/// capacity is total memory minus <see cref="DeviceSelectorOptions.MemoryHeadroomBytes"/>: selection sees the
/// reservations of leases granted since the last reading, which is what keeps concurrent callers from herding onto
/// the device that looked best.</para>
/// <para><b>Leases.</b> <see cref="TryAcquire"/> and <see cref="AcquireAsync"/> select and reserve atomically (under
/// one lock), so concurrent callers never reserve more than a device's capacity. Waiting requests are served in strict
/// FIFO order: a request that fits never overtakes an earlier one that does not (so large requests are not starved),
/// and <see cref="TryAcquire"/> fails while any request waits. A gang request is granted all at once or not at all,
/// so no request ever holds some devices while waiting for others and gang requests cannot deadlock.</para>
/// <para><b>Revocation.</b> When a device is lost or becomes unhealthy, its leases are revoked: their
/// <see cref="GpuLease.Token"/> fires. This happens on a thread-pool thread shortly after the collector reports the
/// change (handlers of the collector's event must be fast), or, with
/// <see cref="DeviceSelectorOptions.ApplyHealthChangesOnRefresh"/>, at the next on-demand refresh of telemetry;
/// revoked leases keep their reservation until released.</para>
/// <para><b>Scale.</b> Leases choose their devices by a scan outside the selector's lock and only check and record
/// the choice under it, so the lock is held for a constant time whatever the device count.</para>
/// <para>Thread safe. Selection without a lease takes no lock and allocates nothing; it is a hint for scripts and
/// callers that coordinate otherwise, and two of them can choose the same device (use
/// <see cref="GpuSelectionStrategy.RandomTopK"/> or <see cref="GpuSelectionStrategy.PowerOfTwoChoices"/> to spread them).</para>
/// </remarks>
public sealed partial class DeviceSelector : IAsyncDisposable
{
    // A thin shell: it validates at the public edge, takes the lock, and wires together parts that each own their
    // state (Polly's strategy-over-controller shape): EligibilityRules (each rule once, giving the verdict and its
    // reason), Scorer, Ranker (strategies, round-robin counter, random sequence), Explainer, LeaseLedger (records,
    // counters, per-device accounting and tokens, drain signal), WaitQueue (FIFO and recheck timer) and
    // HealthChangeQueue (revocation triggers and their completion signal).

    /// <summary>Where device state comes from.</summary>
    private readonly IDeviceStateSource _source;

    /// <summary>The clock of wait durations and the queue re-examination timer.</summary>
    private readonly TimeProvider _time;

    /// <summary>The scheduler's log.</summary>
    private readonly ILogger _logger;

    /// <summary>The scheduler's instruments.</summary>
    private readonly SchedulingMetrics _metrics = new();

    /// <summary>Guards the lease ledger, the wait queue and table replacement.</summary>
    private readonly Lock _gate = new();

    /// <summary>Bytes kept free on every device (<see cref="DeviceSelectorOptions.MemoryHeadroomBytes"/>), for new tables.</summary>
    private readonly long _headroom;

    /// <summary>Filters, ranks and picks devices; owns the round-robin counter and the random sequence.</summary>
    private readonly Ranker _ranker;

    /// <summary>Builds explanations and the exception for a request that does not fit.</summary>
    private readonly Explainer _explainer;

    /// <summary>The lease accounting (under <see cref="_gate"/>).</summary>
    private readonly LeaseLedger _ledger;

    /// <summary>The requests waiting for a lease (under <see cref="_gate"/>).</summary>
    private readonly WaitQueue _queue;

    /// <summary>Health changes not yet processed, handled one at a time in order on the thread pool.</summary>
    private readonly HealthChangeQueue _healthChanges;

    /// <summary>The handler subscribed to the source's health changes (kept to unsubscribe).</summary>
    private readonly Action<GpuHealthChange> _onHealthChanged;

    /// <summary>The current device table (replaced, under <see cref="_gate"/>, when the source's version changes).</summary>
    private SlotTable _table;

    /// <summary>At most this many scans outside the lock race other grants before a request is served under it.</summary>
    private const int OptimisticAttempts = 4;

    /// <summary>Scratch for the slots chosen while serving the queue (used only by the pumping thread, <see cref="_pumping"/>).</summary>
    private int[] _scratch = new int[8];

    /// <summary>Scratch for what the pump's scan saw of the chosen devices (used only by the pumping thread).</summary>
    private Candidate[] _scratchPicks = new Candidate[8];

    /// <summary>Whether a thread is serving the queue (<see cref="Pump"/>; under <see cref="_gate"/>).</summary>
    private bool _pumping;

    /// <summary>Whether something that may let a waiter in happened while the queue was being served (under <see cref="_gate"/>).</summary>
    private bool _pumpAgain;

    /// <summary>Set once shutdown begins: nothing more is granted.</summary>
    private bool _shutdown;

    /// <summary>1 once disposed.</summary>
    private int _disposed;

    /// <summary>Creates a selector over the device states of a telemetry collector.</summary>
    /// <param name="collector">The collector whose devices, readings and health the selector reads (it never calls a backend).</param>
    /// <param name="options">The settings; defaults when <see langword="null"/>. Read once, now.</param>
    /// <param name="timeProvider">The clock of wait times and queue re-examination; the collector's when <see langword="null"/>.</param>
    /// <param name="logger">The log; none when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="collector"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="options"/> are invalid (the message lists every invalid option and its value).</exception>
    public DeviceSelector(TelemetryCollector collector, DeviceSelectorOptions? options = null, TimeProvider? timeProvider = null, ILogger<DeviceSelector>? logger = null)
        : this((IDeviceStateSource)(collector ?? throw new ArgumentNullException(nameof(collector))), options, timeProvider ?? collector.Time, logger)
    {
    }

    /// <summary>Creates a selector over a device-state source.</summary>
    /// <param name="source">The device states (the telemetry collector).</param>
    /// <param name="options">The settings; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="logger">The log; none when <see langword="null"/>.</param>
    internal DeviceSelector(IDeviceStateSource source, DeviceSelectorOptions? options = null, TimeProvider? timeProvider = null, ILogger<DeviceSelector>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        options ??= new DeviceSelectorOptions();
        DeviceSelectorOptionsValidator.ThrowIfInvalid(options, nameof(options));
        _source = source;
        _time = timeProvider ?? TimeProvider.System;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _headroom = options.EffectiveMemoryHeadroomBytes;
        _table = new SlotTable(source.Version, source.Devices, _headroom);
        _ledger = new LeaseLedger(this, _table);
        var rules = new EligibilityRules(options);
        var scorer = new Scorer(options.Weights, options.HotTemperatureC);
        _ranker = new Ranker(options, rules, scorer, _ledger);
        _explainer = new Explainer(source, rules, scorer, _ranker, _ledger);
        _queue = new WaitQueue(_time, options.WaitRecheckInterval, OnRecheck, _metrics);
        _healthChanges = new HealthChangeQueue(HandleHealthChange, _logger, options.ApplyHealthChangesOnRefresh);
        _onHealthChanged = OnHealthChanged;
        source.HealthChanged += _onHealthChanged;
    }

    /// <summary>The instruments (for tests).</summary>
    internal SchedulingMetrics Metrics => _metrics;

    /// <summary>The lease accounting (for tests; read it under <see cref="FindInvariantViolation"/>'s lock or when quiet).</summary>
    internal LeaseLedger Ledger => _ledger;

    /// <summary>The first invariant of the ledger or the wait queue that does not hold, or <see langword="null"/> (for tests: checked under the lock, in any build).</summary>
    internal string? FindInvariantViolation()
    {
        lock (_gate)
        {
            return _ledger.FindViolation() ?? _queue.FindViolation();
        }
    }

    /// <summary>Chooses one device for a single-device request now, without reserving anything.</summary>
    /// <param name="request">What is needed; <see cref="GpuRequest.DeviceCount"/> must be 1.</param>
    /// <returns>The device the request's strategy ranks first.</returns>
    /// <remarks>Allocates nothing when a device fits. Another caller may choose the same device: take a lease to reserve it.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The request asks for more than one device, or names a device the cluster does not have, or its include and exclude lists leave too few devices (the parameter name is the property).</exception>
    /// <exception cref="NoEligibleGpuException">No device satisfies the request now; the message names the nearest device and why.</exception>
    /// <exception cref="ObjectDisposedException">The selector was shut down.</exception>
    public GpuDevice Select(GpuRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.DeviceCount != 1)
        {
            throw ResolvedRequest.InvalidField(nameof(GpuRequest.DeviceCount), "DeviceCount must be 1 for Select; use SelectDevices for a gang request.");
        }

        ThrowIfShutdown();
        var table = CurrentTable();
        var resolved = ResolvedRequest.Of(request, table);
        var slot = 0;
        var chosen = new Span<int>(ref slot);
        if (_ranker.TrySelect(new LiveStates(_source), request, resolved, table, chosen, advance: true))
        {
            return table.Devices[chosen[0]];
        }

        var explanation = _explainer.Explain(request, table, resolved);
        return explanation.Fits ? explanation.Chosen[0] : throw Explainer.NoEligible(explanation);
    }

    /// <summary>Chooses <see cref="GpuRequest.DeviceCount"/> distinct devices now, without reserving anything.</summary>
    /// <param name="request">What is needed.</param>
    /// <returns>The devices, best first.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The request asks for more devices than the cluster has (the parameter name is <c>DeviceCount</c>).</exception>
    /// <exception cref="ArgumentException">The request names a device the cluster does not have, or its include and exclude lists leave too few devices (the parameter name is the property).</exception>
    /// <exception cref="NoEligibleGpuException">Fewer devices than requested satisfy the request now.</exception>
    /// <exception cref="ObjectDisposedException">The selector was shut down.</exception>
    public IReadOnlyList<GpuDevice> SelectDevices(GpuRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfShutdown();
        var table = CurrentTable();
        var resolved = ResolvedRequest.Of(request, table);
        var chosen = new int[request.DeviceCount];
        if (_ranker.TrySelect(new LiveStates(_source), request, resolved, table, chosen, advance: true))
        {
            var devices = new GpuDevice[chosen.Length];
            for (var i = 0; i < chosen.Length; i++)
            {
                devices[i] = table.Devices[chosen[i]];
            }

            return devices;
        }

        var explanation = _explainer.Explain(request, table, resolved);
        return explanation.Fits ? explanation.Chosen : throw Explainer.NoEligible(explanation);
    }

    /// <summary>
    /// Judges every device for a request: eligible, or every reason it is rejected (e.g. <c>needs 20 GiB, 12 GiB free
    /// after reservations</c>), with its score's components, and what the selector would choose now.
    /// </summary>
    /// <param name="request">What is needed.</param>
    /// <returns>The verdicts, by slot, and the choice (empty when the request does not fit, with the nearest device).</returns>
    /// <remarks>Reserves nothing and does not advance the round-robin or random sequence: the choice is what the next selection would make if nothing changed.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The request asks for more devices than the cluster has.</exception>
    /// <exception cref="ArgumentException">The request names a device the cluster does not have, or its include and exclude lists leave too few devices.</exception>
    /// <exception cref="ObjectDisposedException">The selector was shut down.</exception>
    public GpuSelectionExplanation Explain(GpuRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ThrowIfShutdown();
        var table = CurrentTable();
        return _explainer.Explain(request, table, ResolvedRequest.Of(request, table));
    }

    /// <summary>
    /// Stops granting leases, fails waiting requests and revokes every lease; it does not wait for holders to release
    /// (the owner of the cluster awaits that separately). Idempotent.
    /// </summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return default;
        }

        _source.HealthChanged -= _onHealthChanged;
        BeginShutdown();
        _queue.Dispose();
        _metrics.Dispose();
        return default;
    }

    /// <summary>
    /// The source's health-change handler: queues the change and returns at once (it never takes the selector's lock,
    /// so it cannot deadlock with a selection reading the source); the changes are processed in order on the thread pool.
    /// </summary>
    private void OnHealthChanged(GpuHealthChange change)
    {
        if (change is null || Volatile.Read(ref _shutdown))
        {
            return;
        }

        _healthChanges.Post(change);
    }

    /// <summary>
    /// Completes once every health change queued so far has been handled (leases revoked, waiters served), so a caller
    /// that just recorded readings sees their consequences (for the manager's refresh, and deterministic drivers).
    /// </summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the queue is empty and no change is being handled: a signal, not a poll.</returns>
    internal Task WhenHealthChangesAppliedAsync(CancellationToken cancellationToken) => _healthChanges.WhenAppliedAsync(cancellationToken);

    private void ThrowIfShutdown() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _shutdown), this);

    /// <summary>The table of the source's current device set (rebuilt when its version moved on).</summary>
    private SlotTable CurrentTable()
    {
        var table = Volatile.Read(ref _table);
        return table.Version == _source.Version ? table : RefreshTable();
    }

    private SlotTable RefreshTable()
    {
        lock (_gate)
        {
            var version = _source.Version;
            var table = _table;
            if (table.Version == version)
            {
                return table;
            }

            table = new SlotTable(version, _source.Devices, _headroom);
            _ledger.Attach(table);
            Volatile.Write(ref _table, table);
            SchedulingLog.DeviceSetChanged(_logger, version, table.Count);
            return table;
        }
    }
}
