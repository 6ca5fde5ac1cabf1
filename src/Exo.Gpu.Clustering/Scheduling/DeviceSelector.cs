using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
/// change (handlers of the collector's event must be fast); revoked leases keep their reservation until released.</para>
/// <para>Thread safe. Selection without a lease takes no lock and allocates nothing; it is a hint for scripts and
/// callers that coordinate otherwise, and two of them can choose the same device (use
/// <see cref="GpuSelectionStrategy.RandomTopK"/> or <see cref="GpuSelectionStrategy.PowerOfTwoChoices"/> to spread them).</para>
/// </remarks>
public sealed partial class DeviceSelector : IAsyncDisposable
{
    /// <summary>Above this many devices, candidate buffers come from the array pool instead of the stack.</summary>
    private const int StackLimit = 128;

    /// <summary>Where device state comes from.</summary>
    private readonly IDeviceStateSource _source;

    /// <summary>The clock of wait durations and the queue re-examination timer.</summary>
    private readonly TimeProvider _time;

    /// <summary>The scheduler's log.</summary>
    private readonly ILogger _logger;

    /// <summary>The scheduler's instruments.</summary>
    private readonly SchedulingMetrics _metrics = new();

    /// <summary>Guards lease accounting, the wait queue and table replacement.</summary>
    private readonly Lock _gate = new();

    /// <summary>The strategy for requests that name none.</summary>
    private readonly GpuSelectionStrategy _defaultStrategy;

    /// <summary>The score weights, copied from the options.</summary>
    private readonly double _wFree, _wUtil, _wTemp, _wPower;

    /// <summary>Bytes kept free on every device.</summary>
    private readonly long _headroom;

    /// <summary>The hot limit in °C.</summary>
    private readonly double _hot;

    /// <summary>1 / (hot limit − 25 °C): the temperature component's scale.</summary>
    private readonly double _inverseTemperatureSpan;

    /// <summary>See <see cref="InverseWeights"/>.</summary>
    private readonly double[] _inverseWeights;

    /// <summary>Concurrency slots per device (<see cref="int.MaxValue"/> when unlimited).</summary>
    private readonly int _maxLeases;

    /// <summary>How many of the best devices <see cref="GpuSelectionStrategy.RandomTopK"/> draws from.</summary>
    private readonly int _topK;

    /// <summary>The random strategies' seed.</summary>
    private readonly ulong _seed;

    /// <summary>The queue re-examination interval, or <see cref="Timeout.InfiniteTimeSpan"/>.</summary>
    private readonly TimeSpan _recheckInterval;

    /// <summary>Re-examines the queue while requests wait; <see langword="null"/> when turned off.</summary>
    private readonly ITimer? _recheckTimer;

    /// <summary>The handler subscribed to the source's health changes (kept to unsubscribe).</summary>
    private readonly Action<GpuHealthChange> _onHealthChanged;

    /// <summary>Health changes not yet processed, handled one at a time in order on the thread pool.</summary>
    private readonly ConcurrentQueue<GpuHealthChange> _healthChanges = new();


    /// <summary>The current device table (replaced, under <see cref="_gate"/>, when the source's version changes).</summary>
    private DeviceTable _table;

    /// <summary>The round-robin counter.</summary>
    private long _roundRobin;

    /// <summary>How many random draws have been made (the random strategies' position in their sequence).</summary>
    private long _draws;

    /// <summary>1 while a thread-pool item is processing <see cref="_healthChanges"/>.</summary>
    private int _processingHealth;

    /// <summary>
    /// Every lease record ever created, held or free (the first <see cref="_coreCount"/> entries): revocation scans
    /// them for held ones, so granting and releasing keep no list of their own.
    /// </summary>
    private LeaseCore[] _cores = new LeaseCore[16];

    /// <summary>How many entries of <see cref="_cores"/> are used.</summary>
    private int _coreCount;

    /// <summary>
    /// Free lease records, a stack (the first <see cref="_freeCount"/> entries): released records are reused, and a
    /// stale handle is rejected by its generation. Entries above the count are stale and never read.
    /// </summary>
    private LeaseCore[] _free = new LeaseCore[16];

    /// <summary>How many entries of <see cref="_free"/> are free records.</summary>
    private int _freeCount;

    /// <summary>Leases granted and not yet released.</summary>
    private int _activeCount;

    /// <summary>The head (oldest) of the FIFO wait queue.</summary>
    private LeaseWaiter? _head;

    /// <summary>The tail (newest) of the FIFO wait queue.</summary>
    private LeaseWaiter? _tail;

    /// <summary>How many requests wait.</summary>
    private int _waiters;

    /// <summary>Scratch for the slots chosen while serving the queue (under <see cref="_gate"/>).</summary>
    private int[] _scratch = new int[8];

    /// <summary>Lease counters (under <see cref="_gate"/>).</summary>
    private long _granted, _released, _revoked, _nextId;

    /// <summary>Set once shutdown begins: nothing more is granted.</summary>
    private bool _shutdown;

    /// <summary>1 once disposed.</summary>
    private int _disposed;

    /// <summary>Completed when the last active lease is released (created by <see cref="WhenDrainedAsync"/>).</summary>
    private TaskCompletionSource? _drained;

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
        _defaultStrategy = options.DefaultStrategy;
        _wFree = options.Weights.FreeMemory;
        _wUtil = options.Weights.Utilization;
        _wTemp = options.Weights.Temperature;
        _wPower = options.Weights.PowerHeadroom;
        _headroom = options.MemoryHeadroomBytes;
        _hot = options.HotTemperatureC;
        _inverseTemperatureSpan = 1 / (_hot - 25);
        _inverseWeights = InverseWeights(_wFree, _wUtil, _wTemp, _wPower);
        _maxLeases = options.MaxLeasesPerDevice ?? int.MaxValue;
        _topK = options.RandomTopK;
#pragma warning disable CA5394 // Scheduling randomness, not security.
        _seed = unchecked((ulong)(options.Seed ?? Random.Shared.Next()));
#pragma warning restore CA5394
        _recheckInterval = options.WaitRecheckInterval;
        var version = source.Version;
        _table = new DeviceTable(version, source.Devices, _headroom, null);
        if (_recheckInterval != Timeout.InfiniteTimeSpan)
        {
            _recheckTimer = _time.CreateTimer(static s => ((DeviceSelector)s!).OnRecheck(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        _onHealthChanged = OnHealthChanged;
        source.HealthChanged += _onHealthChanged;
    }

    /// <summary>The instruments (for tests).</summary>
    internal SchedulingMetrics Metrics => _metrics;

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
            throw InvalidField(nameof(GpuRequest.DeviceCount), "DeviceCount must be 1 for Select; use SelectDevices for a gang request.");
        }

        ThrowIfShutdown();
        var table = CurrentTable();
        var resolved = Resolve(request, table);
        var slot = 0;
        var chosen = new Span<int>(ref slot);
        if (TrySelectCore(new LiveStates(_source), request, resolved, table, chosen, advance: true))
        {
            return table.Devices[chosen[0]];
        }

        var explanation = ExplainCore(request, table, resolved);
        return explanation.Fits ? explanation.Chosen[0] : throw NoEligible(explanation);
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
        var resolved = Resolve(request, table);
        var chosen = new int[request.DeviceCount];
        if (TrySelectCore(new LiveStates(_source), request, resolved, table, chosen, advance: true))
        {
            var devices = new GpuDevice[chosen.Length];
            for (var i = 0; i < chosen.Length; i++)
            {
                devices[i] = table.Devices[chosen[i]];
            }

            return devices;
        }

        var explanation = ExplainCore(request, table, resolved);
        return explanation.Fits ? explanation.Chosen : throw NoEligible(explanation);
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
        return ExplainCore(request, table, Resolve(request, table));
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
        _recheckTimer?.Dispose();
        _metrics.Dispose();
        return default;
    }

    private static NoEligibleGpuException NoEligible(GpuSelectionExplanation explanation)
    {
        var request = explanation.Request;
        var eligible = 0;
        foreach (var d in explanation.Devices)
        {
            eligible += d.Eligible ? 1 : 0;
        }

        var message = request.DeviceCount == 1
            ? $"No device satisfies the request ({request})"
            : string.Create(CultureInfo.InvariantCulture, $"The request ({request}) needs {request.DeviceCount} devices, but {eligible} {(eligible == 1 ? "is" : "are")} eligible");
        message += explanation.Nearest is { } nearest
            ? $"; nearest: {nearest.Device}: {string.Join("; ", nearest.Reasons)}."
            : "; the cluster has no device.";
        return new NoEligibleGpuException(message, explanation);
    }

    private GpuSelectionStrategy StrategyOf(GpuRequest request) => request.Strategy ?? _defaultStrategy;

    private void ThrowIfShutdown() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _shutdown), this);

    private DeviceTable CurrentTable()
    {
        var table = Volatile.Read(ref _table);
        return table.Version == _source.Version ? table : RefreshTable();
    }

    private DeviceTable RefreshTable()
    {
        lock (_gate)
        {
            var version = _source.Version;
            var table = _table;
            if (table.Version == version)
            {
                return table;
            }

            table = new DeviceTable(version, _source.Devices, _headroom, table);
            Volatile.Write(ref _table, table);
            SchedulingLog.DeviceSetChanged(_logger, version, table.Count);
            return table;
        }
    }

    /// <summary>The request's static constraints for this table, from the request's cache or derived (and validated) once.</summary>
    private static ResolvedRequest Resolve(GpuRequest request, DeviceTable table)
    {
        var resolved = request.Resolved;
        if (resolved is not null && ReferenceEquals(resolved.Table, table))
        {
            return resolved;
        }

        resolved = BuildResolved(request, table);
        request.Resolved = resolved;
        return resolved;
    }

    /// <summary>
    /// A request property that does not fit the cluster: the exception's parameter name is the property's, as when
    /// the property itself rejects a value (see <see cref="GpuRequest"/>).
    /// </summary>
    private static ArgumentException InvalidField(string field, string message) => new(message, field);

    private static ArgumentOutOfRangeException FieldOutOfRange(string field, object value, string message) => new(field, value, message);

    private static ResolvedRequest BuildResolved(GpuRequest request, DeviceTable table)
    {
        if (request.DeviceCount > table.Count)
        {
            throw FieldOutOfRange(
                nameof(GpuRequest.DeviceCount),
                request.DeviceCount,
                string.Create(CultureInfo.InvariantCulture, $"The request asks for {request.DeviceCount} devices, but the cluster has {table.Count}."));
        }

        CheckKnown(table, request.IncludeIndexes, nameof(GpuRequest.IncludeIndexes));
        CheckKnown(table, request.ExcludeIndexes, nameof(GpuRequest.ExcludeIndexes));
        CheckKnown(table, request.IncludeUuids, nameof(GpuRequest.IncludeUuids));
        CheckKnown(table, request.ExcludeUuids, nameof(GpuRequest.ExcludeUuids));

        var allowed = new bool[table.Count];
        int selectable = 0, allowedCount = 0;
        for (var slot = 0; slot < table.Count; slot++)
        {
            var device = table.Devices[slot];
            if (!IdentityAllowed(request, device))
            {
                continue;
            }

            selectable++;
            if (NameAllowed(request, device) && ComputeAllowed(request, device) && table.Capacity[slot] >= request.MemoryBytes)
            {
                allowed[slot] = true;
                allowedCount++;
            }
        }

        if (selectable < request.DeviceCount)
        {
            var field = selectable > 0 ? nameof(GpuRequest.DeviceCount)
                : request.ExcludeIndexes is { Count: > 0 } ? nameof(GpuRequest.ExcludeIndexes)
                : request.ExcludeUuids is { Count: > 0 } ? nameof(GpuRequest.ExcludeUuids)
                : nameof(GpuRequest.IncludeIndexes);
            throw InvalidField(
                field,
                string.Create(CultureInfo.InvariantCulture, $"The include and exclude lists leave {selectable} of the cluster's {table.Count} devices, but the request needs {request.DeviceCount}."));
        }

        return new ResolvedRequest(table, allowed, allowedCount);
    }

    private static void CheckKnown(DeviceTable table, IReadOnlyList<int>? indexes, string field)
    {
        if (indexes is null)
        {
            return;
        }

        foreach (var index in indexes)
        {
            if (Array.FindIndex(table.Devices, d => d.Index == index) < 0)
            {
                throw InvalidField(field, string.Create(CultureInfo.InvariantCulture, $"No device has index {index}."));
            }
        }
    }

    private static void CheckKnown(DeviceTable table, IReadOnlyList<string>? uuids, string field)
    {
        if (uuids is null)
        {
            return;
        }

        foreach (var uuid in uuids)
        {
            if (!table.SlotByUuid.ContainsKey(uuid))
            {
                throw InvalidField(field, $"No device has UUID '{uuid}'.");
            }
        }
    }

    private static bool IdentityAllowed(GpuRequest request, GpuDevice device) =>
        !request.IsExcludedIndex(device.Index)
        && !request.IsExcludedUuid(device.Uuid)
        && (!request.HasIncludes || request.IsIncludedIndex(device.Index) || request.IsIncludedUuid(device.Uuid));

    private static bool NameAllowed(GpuRequest request, GpuDevice device) =>
        request.CompiledNamePattern is not { } pattern || pattern.IsMatch(device.Name);

    private static bool ComputeAllowed(GpuRequest request, GpuDevice device)
    {
        if (request.MinComputeCapability is null && request.MaxComputeCapability is null)
        {
            return true;
        }

        return device.ComputeCapability is { } cc
            && !(request.MinComputeCapability is { } min && cc < min)
            && !(request.MaxComputeCapability is { } max && cc > max);
    }

    /// <summary>Adds a reason for each static constraint the device fails (the explaining twin of <see cref="BuildResolved"/>).</summary>
    private void AddStaticReasons(GpuRequest request, DeviceTable table, int slot, Rejections reasons)
    {
        var device = table.Devices[slot];
        if (request.IsExcludedIndex(device.Index))
        {
            reasons.Add(string.Create(CultureInfo.InvariantCulture, $"excluded by index {device.Index}"), Rejections.Identity);
        }

        if (request.IsExcludedUuid(device.Uuid))
        {
            reasons.Add("excluded by UUID", Rejections.Identity);
        }

        if (request.HasIncludes && !request.IsIncludedIndex(device.Index) && !request.IsIncludedUuid(device.Uuid))
        {
            reasons.Add("not in the include lists", Rejections.Identity);
        }

        if (!NameAllowed(request, device))
        {
            reasons.Add($"name '{device.Name}' does not match '{request.NamePattern}'", Rejections.Model);
        }

        if (!ComputeAllowed(request, device))
        {
            reasons.Add(device.ComputeCapability is { } cc
                ? request.MinComputeCapability is { } min && cc < min ? $"compute capability {cc} < {min}" : $"compute capability {cc} > {request.MaxComputeCapability}"
                : "compute capability unknown",
                Rejections.Model);
        }

        if (table.Capacity[slot] < request.MemoryBytes)
        {
            reasons.Add($"needs {ByteSize.Format(request.MemoryBytes)}, capacity {ByteSize.Format(table.Capacity[slot])} ({ByteSize.Format(device.TotalMemoryBytes)} total − {ByteSize.Format(_headroom)} headroom)", Rejections.TooSmall);
        }
    }

    /// <summary>
    /// Whether the device at <paramref name="slot"/> is eligible. With <paramref name="reasons"/> <see langword="null"/>
    /// it stops at the first failure and allocates nothing (the hot path); otherwise it collects every reason.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Evaluate(GpuRequest request, ResolvedRequest resolved, DeviceTable table, int slot, Reading reading, Rejections? reasons, out long available)
    {
        // Inlined into its callers: where reasons is the constant null (the hot path), the JIT drops every branch
        // that explains; the messages are built by the non-inlined Describe methods.
        available = 0;
        if (reasons is null)
        {
            if (!resolved.Allowed[slot])
            {
                return false;
            }
        }
        else
        {
            AddStaticReasons(request, table, slot, reasons);
        }

        var health = reading.Health;
        if (health != GpuHealth.Healthy && !(health == GpuHealth.Degraded && request.AllowDegraded))
        {
            if (reasons is null)
            {
                return false;
            }

            reasons.Add(Describe.Health(health), health == GpuHealth.Degraded ? Rejections.Mild : Rejections.Down);
        }

        if (!reading.Fresh)
        {
            if (reasons is null)
            {
                return false;
            }

            reasons.Add(Describe.Stale(reading.Age), Rejections.Down);
        }
        else if (request.MaxTelemetryAge is { } maxAge && reading.Age > maxAge)
        {
            if (reasons is null)
            {
                return false;
            }

            reasons.Add(Describe.TooOld(reading.Age, maxAge), Rejections.Mild);
        }

        if (reading.Fresh)
        {
            if (reading.HasTemperature && reading.Temperature >= _hot)
            {
                if (reasons is null)
                {
                    return false;
                }

                reasons.Add(Describe.Hot(reading.Temperature, _hot), Rejections.Load);
            }

            if (request.MaxTemperatureC is double maxT && !(reading.HasTemperature && reading.Temperature <= maxT))
            {
                if (reasons is null)
                {
                    return false;
                }

                reasons.Add(Describe.AboveMaxTemperature(reading.HasTemperature ? reading.Temperature : null, maxT), Rejections.Load);
            }

            if (request.MaxUtilizationPercent is double maxU && !(reading.HasUtilization && reading.Utilization <= maxU))
            {
                if (reasons is null)
                {
                    return false;
                }

                reasons.Add(Describe.AboveMaxUtilization(reading.HasUtilization ? reading.Utilization : null, maxU), Rejections.Load);
            }
        }

        var capacity = table.Capacity[slot];
        var reserved = Volatile.Read(ref table.Reserved[slot]);
        available = capacity - reserved;
        if (reading.HasMemoryFree)
        {
            available = Math.Min(available, reading.MemoryFree - _headroom);
        }

        // Below zero only when the device has less free than the headroom: then even a request for nothing fails.
        var tooSmall = available < request.MemoryBytes;
        if (available < 0)
        {
            available = 0;
        }

        if (tooSmall && (reasons is null || capacity >= request.MemoryBytes))
        {
            if (reasons is null)
            {
                return false;
            }

            reasons.Add(Describe.NoRoom(request.MemoryBytes, available, reserved, capacity, reading.HasMemoryFree ? reading.MemoryFree : null, _headroom), Rejections.Room);
        }

        if (Volatile.Read(ref table.Leases[slot]) >= _maxLeases)
        {
            if (reasons is null)
            {
                return false;
            }

            reasons.Add(Describe.SlotsFull(_maxLeases), Rejections.Room);
        }

        return reasons is null || reasons.Count == 0;
    }

    /// <summary>The rejection messages, kept out of <see cref="Evaluate"/> so its frame stays lean.</summary>
    private static class Describe
    {
        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string Health(GpuHealth health) =>
            health == GpuHealth.Degraded ? "health Degraded (the request allows only Healthy)" : $"health {health}";

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string Stale(TimeSpan age) =>
            age == TimeSpan.MaxValue ? "no telemetry reading yet" : $"telemetry stale (last reading {Seconds(age)} old)";

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string TooOld(TimeSpan age, TimeSpan max) => $"telemetry {Seconds(age)} old, the request allows {Seconds(max)}";

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string Hot(double t, double hot) =>
            string.Create(CultureInfo.InvariantCulture, $"temperature {t:0.#} °C >= hot limit {hot:0.#} °C");

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string AboveMaxTemperature(double? t, double max) => t is double v
            ? string.Create(CultureInfo.InvariantCulture, $"temperature {v:0.#} °C > max {max:0.#} °C")
            : "temperature not reported (the request limits it)";

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string AboveMaxUtilization(double? u, double max) => u is double v
            ? string.Create(CultureInfo.InvariantCulture, $"utilization {v:0.#} % > max {max:0.#} %")
            : "utilization not reported (the request limits it)";

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string NoRoom(long needed, long available, long reserved, long capacity, long? observed, long headroom)
        {
            var detail = $"{ByteSize.Format(reserved)} reserved of {ByteSize.Format(capacity)} capacity";
            if (observed is long o)
            {
                detail += $", {ByteSize.Format(o)} free observed";
                if (o < headroom)
                {
                    detail += $", below the {ByteSize.Format(headroom)} headroom";
                }
            }

            return $"needs {ByteSize.Format(needed)}, {ByteSize.Format(available)} free after reservations ({detail})";
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static string SlotsFull(int slots) => string.Create(CultureInfo.InvariantCulture, $"all {slots} concurrency slots in use");

        private static string Seconds(TimeSpan age) => age.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
    }

    /// <summary>The <see cref="GpuSelectionStrategy.BestScore"/> score of a device with a fresh reading.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double ScoreTotal(Reading reading, long available, DeviceTable table)
    {
        // Only the components the device reports count; the divisions are precomputed reciprocals except the power
        // ratio (this runs once per device per selection).
        var sum = _wFree * FreeComponent(available, table);
        var present = 0;
        if (reading.HasUtilization)
        {
            sum += _wUtil * UtilizationComponent(reading.Utilization);
            present |= 1;
        }

        if (reading.HasTemperature)
        {
            sum += _wTemp * TemperatureComponent(reading.Temperature);
            present |= 2;
        }

        if (reading.HasPowerHeadroom)
        {
            sum += _wPower * PowerComponent(reading.Power, reading.PowerLimit);
            present |= 4;
        }

        return sum * _inverseWeights[present];
    }

    /// <summary>The score and its components (for <see cref="Explain"/>), from the same formulas as <see cref="ScoreTotal"/>.</summary>
    private GpuScoreBreakdown Score(in Reading reading, long available, DeviceTable table) => new(
        ScoreTotal(reading, available, table),
        FreeComponent(available, table),
        reading.HasUtilization ? UtilizationComponent(reading.Utilization) : null,
        reading.HasTemperature ? TemperatureComponent(reading.Temperature) : null,
        reading.HasPowerHeadroom ? PowerComponent(reading.Power, reading.PowerLimit) : null);

    /// <summary>1 / (sum of the weights of the components present), indexed by a mask: 1 utilization, 2 temperature, 4 power.</summary>
    private static double[] InverseWeights(double free, double utilization, double temperature, double power)
    {
        var inverse = new double[8];
        for (var mask = 0; mask < 8; mask++)
        {
            var sum = free + ((mask & 1) != 0 ? utilization : 0) + ((mask & 2) != 0 ? temperature : 0) + ((mask & 4) != 0 ? power : 0);
            inverse[mask] = sum > 0 ? 1 / sum : 0;
        }

        return inverse;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Clamp01(double value) => value < 0 ? 0 : value > 1 ? 1 : value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double FreeComponent(long available, DeviceTable table) => Clamp01(available * table.InverseMaxCapacity);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double UtilizationComponent(double utilization) => Clamp01(1 - (utilization * 0.01));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double TemperatureComponent(double temperature) => Clamp01((_hot - temperature) * _inverseTemperatureSpan);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double PowerComponent(double power, double limit) => Clamp01(1 - (power / limit));

    /// <summary>The strategy's ranking key of an eligible device: higher is better.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double Key(GpuSelectionStrategy strategy, Reading reading, long available, DeviceTable table, int slot, int roundRobinStart) => strategy switch
    {
        GpuSelectionStrategy.MostFreeMemory => available,
        GpuSelectionStrategy.LeastUtilized => reading.HasUtilization ? -reading.Utilization : -1000,
        GpuSelectionStrategy.BestFit => -available,
        GpuSelectionStrategy.RoundRobin => -((slot - roundRobinStart + table.Count) % table.Count),
        _ => ScoreTotal(reading, available, table),
    };

    /// <summary>
    /// Filters, ranks and picks <c>chosen.Length</c> devices. Allocates nothing (the candidates live on the stack, or
    /// in a pooled array above <see cref="StackLimit"/> devices). <paramref name="advance"/> moves the round-robin
    /// counter and the random sequence on; <see cref="Explain"/> peeks without moving them.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TrySelectCore<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, DeviceTable table, Span<int> chosen, bool advance)
        where TStates : struct, IStateReader
    {
        // The stack buffer lives in a method without loops, so that the scanning method below is tiered up with
        // profile data like any other (a method with both loops and stackalloc is compiled once, without it).
        if (IsSingle(request, chosen.Length))
        {
            return Scan(states, request, resolved, table, chosen, advance, default);
        }

        if (table.Count > StackLimit)
        {
            return TrySelectRented(states, request, resolved, table, chosen, advance);
        }

        return TrySelectOnStack(states, request, resolved, table, chosen, advance);
    }

    /// <summary>The candidate list on the stack, in its own method so the single-device path carries no stack buffer (nor its guard).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TrySelectOnStack<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, DeviceTable table, Span<int> chosen, bool advance)
        where TStates : struct, IStateReader
    {
        Span<Candidate> candidates = stackalloc Candidate[table.Count];
        return Scan(states, request, resolved, table, chosen, advance, candidates);
    }

    /// <summary>One device by a deterministic strategy (the common case): the scan keeps the best in hand and needs no candidate list.</summary>
    private bool IsSingle(GpuRequest request, int count) =>
        count == 1 && StrategyOf(request) is not (GpuSelectionStrategy.RandomTopK or GpuSelectionStrategy.PowerOfTwoChoices);

    private bool TrySelectRented<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, DeviceTable table, Span<int> chosen, bool advance)
        where TStates : struct, IStateReader
    {
        var rented = ArrayPool<Candidate>.Shared.Rent(table.Count);
        try
        {
            return Scan(states, request, resolved, table, chosen, advance, rented);
        }
        finally
        {
            ArrayPool<Candidate>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Filters, ranks and picks <c>chosen.Length</c> devices, using <paramref name="candidates"/> (at least one entry
    /// per device) as scratch, so it allocates nothing. <paramref name="advance"/> moves the round-robin counter and
    /// the random sequence on; <see cref="Explain"/> peeks without moving them.
    /// </summary>
    private bool Scan<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, DeviceTable table, Span<int> chosen, bool advance, Span<Candidate> candidates)
        where TStates : struct, IStateReader
    {
        var count = chosen.Length;
        if (resolved.AllowedCount < count)
        {
            return false;
        }

        var strategy = StrategyOf(request);
        var n = table.Count;
        var start = 0;
        if (strategy == GpuSelectionStrategy.RoundRobin)
        {
            var ticket = advance ? Interlocked.Increment(ref _roundRobin) - 1 : Volatile.Read(ref _roundRobin);
            start = (int)((ulong)ticket % (ulong)n);
        }

        var m = 0;
        var allowed = resolved.Allowed;
        var needAge = request.MaxTelemetryAge.HasValue;

        var single = IsSingle(request, count);

        // When the static constraints allow one device for a one-device request (a pinned request, a one-device
        // cluster), it is taken if eligible: there is nothing to rank.
        var rank = !(single && resolved.AllowedCount == 1);
        var best = default(Candidate);
        for (var slot = 0; slot < n; slot++)
        {
            if (!allowed[slot])
            {
                continue;
            }

            var reading = new Reading(states.Get(slot), needAge);
            if (!Evaluate(request, resolved, table, slot, reading, null, out var available))
            {
                continue;
            }

            var c = new Candidate
            {
                Slot = slot,
                Key = rank ? Key(strategy, reading, available, table, slot, start) : 0,
                Reserved = Volatile.Read(ref table.Reserved[slot]),
                Leases = Volatile.Read(ref table.Leases[slot]),
            };
            if (single)
            {
                if (m++ == 0 || Better(c, best))
                {
                    best = c;
                }
            }
            else
            {
                candidates[m++] = c;
            }
        }

        if (m < count)
        {
            return false;
        }

        if (single)
        {
            chosen[0] = best.Slot;
            return true;
        }

        Pick(strategy, candidates[..m], chosen, advance);
        return true;
    }

    private void Pick(GpuSelectionStrategy strategy, Span<Candidate> candidates, Span<int> chosen, bool advance)
    {
        var count = chosen.Length;
        var m = candidates.Length;
        if (strategy is GpuSelectionStrategy.RandomTopK or GpuSelectionStrategy.PowerOfTwoChoices)
        {
            var draws = 2 * count;
            var position = advance ? Interlocked.Add(ref _draws, draws) - draws : Volatile.Read(ref _draws);
            var random = new SplitMix(_seed, position);
            if (strategy == GpuSelectionStrategy.RandomTopK)
            {
                var k = Math.Min(m, Math.Max(_topK, count));
                SortBest(candidates, k);
                for (var i = 0; i < count; i++)
                {
                    Swap(candidates, i, i + random.Next(k - i));
                    chosen[i] = candidates[i].Slot;
                }
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    var left = m - i;
                    if (left > 1)
                    {
                        var a = i + random.Next(left);
                        var b = i + random.Next(left - 1);
                        if (b >= a)
                        {
                            b++;
                        }

                        Swap(candidates, i, Better(candidates[a], candidates[b]) ? a : b);
                    }

                    chosen[i] = candidates[i].Slot;
                }
            }

            return;
        }

        SortBest(candidates, count);
        for (var i = 0; i < count; i++)
        {
            chosen[i] = candidates[i].Slot;
        }
    }

    /// <summary>Moves the best <paramref name="k"/> candidates, in order, to the front (partial selection sort: k is small).</summary>
    private static void SortBest(Span<Candidate> candidates, int k)
    {
        for (var i = 0; i < k; i++)
        {
            var best = i;
            for (var j = i + 1; j < candidates.Length; j++)
            {
                if (Better(candidates[j], candidates[best]))
                {
                    best = j;
                }
            }

            Swap(candidates, i, best);
        }
    }

    private static void Swap(Span<Candidate> candidates, int i, int j)
    {
        if (i != j)
        {
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
        }
    }

    /// <summary>Higher key, then fewer reserved bytes, then fewer leases, then the lower slot.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Better(in Candidate a, in Candidate b)
    {
        if (a.Key != b.Key)
        {
            return a.Key > b.Key;
        }

        if (a.Reserved != b.Reserved)
        {
            return a.Reserved < b.Reserved;
        }

        if (a.Leases != b.Leases)
        {
            return a.Leases < b.Leases;
        }

        return a.Slot < b.Slot;
    }

    private GpuSelectionExplanation ExplainCore(GpuRequest request, DeviceTable table, ResolvedRequest resolved)
    {
        var n = table.Count;
        var states = new DeviceState[n];
        for (var slot = 0; slot < n; slot++)
        {
            states[slot] = _source.GetState(slot);
        }

        var verdicts = new GpuDeviceVerdict[n];
        for (var slot = 0; slot < n; slot++)
        {
            var reasons = new Rejections();
            var state = states[slot];
            var reading = new Reading(state, needAge: true);
            Evaluate(request, resolved, table, slot, reading, reasons, out var available);
            verdicts[slot] = new GpuDeviceVerdict(
                table.Devices[slot],
                state.Health,
                reasons.AsReadOnly(),
                reasons.Distance,
                table.Capacity[slot],
                Volatile.Read(ref table.Reserved[slot]),
                state.HasFreshSample ? state.Sample.MemoryFreeBytes : null,
                available,
                Volatile.Read(ref table.Leases[slot]),
                state.HasFreshSample ? Score(reading, available, table) : null,
                state.SampleAge);
        }

        var chosenSlots = new int[request.DeviceCount];
        var fits = TrySelectCore(new SnapshotStates(states), request, resolved, table, chosenSlots, advance: false);
        var chosen = fits ? Array.ConvertAll(chosenSlots, s => table.Devices[s]) : [];
        return new GpuSelectionExplanation(request, StrategyOf(request), verdicts, chosen, fits ? null : Nearest(request, verdicts));
    }

    /// <summary>The rejected device closest to qualifying: the smallest <see cref="Rejections.Distance"/>, then the smallest memory shortfall, then the lowest slot.</summary>
    private static GpuDeviceVerdict? Nearest(GpuRequest request, GpuDeviceVerdict[] verdicts)
    {
        GpuDeviceVerdict? best = null;
        foreach (var v in verdicts)
        {
            if (v.Eligible)
            {
                continue;
            }

            if (best is null || Closer(v, best, request.MemoryBytes))
            {
                best = v;
            }
        }

        return best;

        static bool Closer(GpuDeviceVerdict a, GpuDeviceVerdict b, long memory)
        {
            if (a.Distance != b.Distance)
            {
                return a.Distance < b.Distance;
            }

            return Math.Max(0, memory - a.FreeBytesAfterReservations) < Math.Max(0, memory - b.FreeBytesAfterReservations);
        }
    }

    /// <summary>Reads device states: live from the source, or from a snapshot (so an explanation's choice matches its verdicts).</summary>
    private interface IStateReader
    {
        DeviceState Get(int slot);
    }

    private readonly struct LiveStates(IDeviceStateSource source) : IStateReader
    {
        public DeviceState Get(int slot) => source.GetState(slot);
    }

    private readonly struct SnapshotStates(DeviceState[] states) : IStateReader
    {
        public DeviceState Get(int slot) => states[slot];
    }

    /// <summary>An eligible device and its ranking data.</summary>
    [StructLayout(LayoutKind.Auto)]
    private struct Candidate
    {
        public int Slot;
        public double Key;
        public long Reserved;
        public int Leases;
    }

    /// <summary>A SplitMix64 sequence: draw <c>i</c> is a pure function of the seed and the position, so it needs no lock.</summary>
    private struct SplitMix(ulong seed, long position)
    {
        private ulong _state = seed + (unchecked((ulong)position) * 0x9E3779B97F4A7C15UL);

        /// <summary>A draw in [0, <paramref name="bound"/>).</summary>
        public int Next(int bound)
        {
            _state += 0x9E3779B97F4A7C15UL;
            var z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (int)(((z >> 32) * (ulong)bound) >> 32);
        }
    }
}
