using System.Buffers;
using System.Collections.Frozen;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// Where every reading lands: a bounded history per device, validation, summaries, staleness, health with hysteresis,
/// streaming to subscribers and the OpenTelemetry device instruments.
/// </summary>
/// <remarks>
/// <para><b>History.</b> Each device keeps its newest <see cref="TelemetryOptions.HistoryCapacity"/> readings
/// (and, when <see cref="TelemetryOptions.MaxSampleAge"/> is set, only those that recent) in a ring buffer: recording
/// is O(1) and allocates nothing, and memory stays bounded by devices × capacity however long it runs.</para>
/// <para><b>Order.</b> A reading stamped before the device's newest one is rejected (<see cref="GpuSampleValidationException"/>
/// on <c>Timestamp</c>): history, windows and age eviction rely on timestamp order. A reading stamped the same as
/// the newest one is accepted.</para>
/// <para><b>Staleness.</b> A reading older than <see cref="TelemetryOptions.StalenessLimit"/> (or stamped more than the
/// limit in the future) is stale: it is never current in <see cref="GetClusterTelemetry"/>, the instruments or device
/// selection, and the device's health is <see cref="GpuHealth.Unknown"/>.</para>
/// <para><b>Health.</b> Judged, in this order: <see cref="GpuHealth.Lost"/> once the backend reports the device lost
/// (left only when it is discovered again); <see cref="GpuHealth.Unhealthy"/> after a critical Xid or double-bit ECC
/// event, or after <see cref="TelemetryOptions.SamplingFailuresUnhealthy"/> failed readings in a row (these hold even
/// without a fresh reading); <see cref="GpuHealth.Unknown"/> without a fresh reading; otherwise the worst of the
/// reading rules (temperature, power against its limit, uncorrected ECC errors, hardware slowdown) and the
/// failure rule, or <see cref="GpuHealth.Healthy"/>. Each reading rule turns on at its enter threshold and turns off
/// only after the readings stayed below its leave threshold for <see cref="TelemetryOptions.HealthHoldTime"/>
/// (measured with the readings' timestamps), so a value hovering around a threshold does not flap. Every change is
/// logged and published to <see cref="SubscribeHealthChanges"/>, in order.</para>
/// <para><b>Thread safety.</b> Every member may be called concurrently. Writers of one device serialize on a
/// per-device lock held for a few nanoseconds; readers of the newest reading take no lock and never see a torn one.</para>
/// <para><b>Disposal.</b> <see cref="DisposeAsync"/> is idempotent; it completes every subscription and ends the
/// instruments. Queries keep answering from the history afterwards; <see cref="Record"/> and the subscriptions throw.</para>
/// </remarks>
public sealed class TelemetryCollector : IAsyncDisposable, IDeviceStateSource
{
    /// <summary>A device's history is summarized on the stack up to this capacity; larger ones rent a buffer.</summary>
    private const int StackSummaryLimit = 1024;

    /// <summary>How many slots <see cref="DeviceTable.Lookup"/> compares by reference before hashing.</summary>
    private const int ReferenceScanLimit = 16;

    /// <summary>The validated, frozen options.</summary>
    private readonly TelemetrySettings _settings;

    /// <summary>The clock of staleness, windows and health changes.</summary>
    private readonly TimeProvider _time;

    /// <summary>Where health changes and device events are logged.</summary>
    private readonly ILogger _logger;

    /// <summary>Serializes adding and rejoining devices (rare).</summary>
    private readonly Lock _topologyLock = new();

    /// <summary>Serializes judging and publishing health changes, so they are published in the order they happen. Re-entrant.</summary>
    private readonly Lock _healthLock = new();

    /// <summary>Sample subscribers.</summary>
    private readonly Subscribers<DeviceSample> _sampleSubscribers = new();

    /// <summary>Health change subscribers.</summary>
    private readonly Subscribers<GpuHealthChange> _healthSubscribers = new();

    /// <summary>Re-judges health periodically so staleness and expired events are published without a new reading.</summary>
    private readonly ITimer _sweepTimer;

    /// <summary>The meter of the device instruments.</summary>
    private readonly Meter _meter;

    /// <summary>Whether <see cref="_meter"/> was created here (and is disposed here) rather than by an <see cref="IMeterFactory"/>.</summary>
    private readonly bool _ownsMeter;

    /// <summary>The devices and their slots; replaced, never mutated.</summary>
    private DeviceTable _table;

    /// <summary>Incremented when a device is added, lost or rejoins.</summary>
    private int _version;

    /// <summary>0 until disposed.</summary>
    private int _disposed;

    /// <summary>Creates a collector for the given devices.</summary>
    /// <param name="devices">The devices, at least one, with distinct UUIDs; their order gives their slots.</param>
    /// <param name="options">The settings; defaults when <see langword="null"/>. Validated and copied now.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Where to log; nothing is logged when <see langword="null"/>.</param>
    /// <param name="meterFactory">Creates the <c>Exo.Gpu.Clustering</c> meter of the device instruments; when
    /// <see langword="null"/> the collector creates its own and disposes it with itself.</param>
    /// <exception cref="ArgumentNullException"><paramref name="devices"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="devices"/> is empty, holds <see langword="null"/> or repeats a UUID; or
    /// <paramref name="options"/> are invalid (the message lists every invalid option and its value).</exception>
    public TelemetryCollector(
        IEnumerable<GpuDevice> devices,
        TelemetryOptions? options = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(devices);
        var list = devices.ToArray();
        if (list.Length == 0)
        {
            throw new ArgumentException("At least one device is needed.", nameof(devices));
        }

        if (Array.IndexOf(list, null) >= 0)
        {
            throw new ArgumentException("The devices must not hold null.", nameof(devices));
        }

        var duplicate = list.GroupBy(d => d.Uuid, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"The device UUID '{duplicate.Key}' appears more than once.", nameof(devices));
        }

        _settings = TelemetrySettings.From(options, nameof(options));
        _time = timeProvider ?? TimeProvider.System;
        _logger = loggerFactory?.CreateLogger<TelemetryCollector>() ?? NullLogger<TelemetryCollector>.Instance;
        LoggerFactory = loggerFactory;
        var slots = new DeviceSlot[list.Length];
        for (var i = 0; i < list.Length; i++)
        {
            slots[i] = new DeviceSlot(list[i], i, _settings.HistoryCapacity);
        }

        _table = new DeviceTable(slots);
        if (meterFactory is not null)
        {
            _meter = meterFactory.Create(new MeterOptions(TelemetryInstruments.MeterName));
        }
        else
        {
            _meter = new Meter(TelemetryInstruments.MeterName);
            _ownsMeter = true;
        }

        _ = new TelemetryInstruments(_meter, this);
        var sweep = TimeSpan.FromTicks(Math.Clamp(_settings.StalenessLimit.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
        _sweepTimer = _time.CreateTimer(static state => ((TelemetryCollector)state!).Sweep(), this, sweep, sweep);
    }

    /// <summary>Raised after a device's health changes. Handlers run under the collector's health lock: fast, never throwing.</summary>
    event Action<GpuHealthChange>? IDeviceStateSource.HealthChanged
    {
        add => HealthChanged += value;
        remove => HealthChanged -= value;
    }

    /// <summary>Raised after a device's health changes (the same changes as <see cref="SubscribeHealthChanges"/>, synchronously).</summary>
    internal event Action<GpuHealthChange>? HealthChanged;

    /// <summary>Every device known, lost ones included, in slot order (a device keeps its slot when it rejoins).</summary>
    public IReadOnlyList<GpuDevice> Devices => Volatile.Read(ref _table).DeviceList;

    /// <summary>Incremented when a device is added, lost or rejoins.</summary>
    int IDeviceStateSource.Version => Volatile.Read(ref _version);

    /// <summary>The validated settings (for the poller).</summary>
    internal TelemetrySettings Settings => _settings;

    /// <summary>The clock (for the poller).</summary>
    internal TimeProvider Time => _time;

    /// <summary>The logger factory given, if any (for the poller).</summary>
    internal ILoggerFactory? LoggerFactory { get; }

    /// <summary>The meter of the device instruments (tests listen to this instance only).</summary>
    internal Meter Meter => _meter;

    /// <summary>The slots, in slot order (for the poller).</summary>
    internal IReadOnlyList<DeviceSlot> Slots => Volatile.Read(ref _table).Slots;

    /// <summary>Records a reading of a device.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <param name="sample">The reading. Values must be finite and not negative, utilization within 0–100, memory in use
    /// at most the total (the reading's, else the device's), and the timestamp set and not older than the device's newest reading.</param>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="GpuSampleValidationException">A value is invalid; <see cref="GpuSampleValidationException.Field"/>
    /// names it and <see cref="ArgumentOutOfRangeException.ActualValue"/> holds it. Nothing was recorded.</exception>
    /// <exception cref="InvalidOperationException">The device is lost; readings are refused until it is discovered again.</exception>
    /// <exception cref="ObjectDisposedException">The collector was disposed.</exception>
    public void Record(string uuid, in GpuSample sample)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var slot = Volatile.Read(ref _table).Lookup(uuid) ?? ThrowUnknownDevice(uuid);
        if (!RecordCore(slot, sample))
        {
            ThrowLost(uuid);
        }
    }

    /// <summary>The fast path of the poller: records a reading by slot.</summary>
    /// <returns><see langword="false"/> when the device is lost or the collector disposed (nothing recorded).</returns>
    /// <exception cref="GpuSampleValidationException">The reading is invalid.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slot"/> is not a slot.</exception>
    internal bool RecordAt(int slot, in GpuSample sample)
    {
        var slots = Volatile.Read(ref _table).Slots;
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)slot, (uint)slots.Length, nameof(slot));
        return Volatile.Read(ref _disposed) == 0 && RecordCore(slots[slot], sample);
    }

    /// <summary>The newest reading and health of a device.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <returns>The status now.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    public GpuDeviceStatus GetStatus(string uuid) => StatusOf(Find(uuid), _time.GetUtcNow().UtcTicks);

    /// <summary>The newest reading and health of every device, in slot order.</summary>
    /// <returns>One status per device.</returns>
    public IReadOnlyList<GpuDeviceStatus> GetStatuses()
    {
        var now = _time.GetUtcNow().UtcTicks;
        var slots = Volatile.Read(ref _table).Slots;
        var result = new GpuDeviceStatus[slots.Length];
        for (var i = 0; i < slots.Length; i++)
        {
            result[i] = StatusOf(slots[i], now);
        }

        return result;
    }

    /// <summary>
    /// Copies a device's readings, oldest first, into <paramref name="destination"/>; when more are kept than fit, the
    /// newest ones. Allocates nothing.
    /// </summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <param name="destination">Where to copy.</param>
    /// <param name="window">Only readings this recent (from now); all kept readings when <see langword="null"/>. More than 0.</param>
    /// <returns>How many readings were copied.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="window"/> is zero or negative.</exception>
    public int CopyHistory(string uuid, Span<GpuSample> destination, TimeSpan? window = null)
    {
        var slot = Find(uuid);
        return slot.CopyHistory(Since(window), destination);
    }

    /// <summary>A copy of a device's readings, oldest first.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <param name="window">Only readings this recent (from now); all kept readings when <see langword="null"/>. More than 0.</param>
    /// <returns>The readings, possibly none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="window"/> is zero or negative.</exception>
    public IReadOnlyList<GpuSample> GetHistory(string uuid, TimeSpan? window = null)
    {
        var slot = Find(uuid);
        return slot.GetHistory(Since(window));
    }

    /// <summary>Summarizes one reading of a device over the readings of the last <paramref name="window"/>.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <param name="metric">The reading to summarize.</param>
    /// <param name="window">How far back from now; more than 0.</param>
    /// <returns>The summary, or <see langword="null"/> when no reading in the window carries the value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="metric"/> is not defined, or <paramref name="window"/> is zero or negative.</exception>
    [SkipLocalsInit]
    public TelemetrySummary? Summarize(string uuid, TelemetryMetric metric, TimeSpan window)
    {
        var slot = Find(uuid);
        if ((uint)metric > (uint)TelemetryMetric.Power)
        {
            throw new ArgumentOutOfRangeException(nameof(metric), metric, "Unknown metric.");
        }

        var since = Since(window);
        double[]? rented = null;
        var capacity = slot.Capacity;
        var buffer = capacity <= StackSummaryLimit
            ? stackalloc double[StackSummaryLimit]
            : (rented = ArrayPool<double>.Shared.Rent(capacity));
        try
        {
            var n = slot.ExtractMetric(since, metric, buffer, out var from, out var to);
            return n == 0 ? null : SummaryMath.Summarize(metric, buffer[..n], from, to);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<double>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The cluster as a whole, from fresh readings only.</summary>
    /// <returns>The aggregate now.</returns>
    public ClusterTelemetry GetClusterTelemetry()
    {
        var now = _time.GetUtcNow();
        var slots = Volatile.Read(ref _table).Slots;
        int fresh = 0, utilizationCount = 0, temperatureCount = 0, powerCount = 0;
        long total = 0, used = 0, free = 0;
        double utilization = 0, temperature = 0, power = 0;
        foreach (var slot in slots)
        {
            var s = slot.ReadSnapshot();
            if (!s.IsFresh(now.UtcTicks, _settings.StalenessTicks))
            {
                continue;
            }

            var sample = s.Latest;
            fresh++;
            var deviceTotal = sample.MemoryTotalBytes ?? slot.Device.TotalMemoryBytes;
            total += deviceTotal;
            if (sample.MemoryUsedBytes is long u)
            {
                used += u;
                free += deviceTotal - u;
            }

            Add(sample.UtilizationPercent, ref utilization, ref utilizationCount);
            Add(sample.TemperatureC, ref temperature, ref temperatureCount);
            Add(sample.PowerW, ref power, ref powerCount);
        }

        return new ClusterTelemetry(
            slots.Length,
            fresh,
            total,
            used,
            free,
            utilizationCount == 0 ? null : utilization / utilizationCount,
            temperatureCount == 0 ? null : temperature / temperatureCount,
            powerCount == 0 ? null : power,
            now);

        static void Add(double? value, ref double sum, ref int count)
        {
            if (value is double v)
            {
                sum += v;
                count++;
            }
        }
    }

    /// <summary>
    /// Streams every reading recorded from now on through a bounded channel that drops its oldest reading when full,
    /// so a slow reader never blocks recording or grows memory. The channel completes when the collector is disposed
    /// or <paramref name="cancellationToken"/> fires.
    /// </summary>
    /// <param name="capacity">How many readings the channel holds, 1 or more.</param>
    /// <param name="cancellationToken">Ends the subscription.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is zero or negative.</exception>
    /// <exception cref="ObjectDisposedException">The collector was disposed.</exception>
    public ChannelReader<DeviceSample> Subscribe(int capacity = 1024, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _sampleSubscribers.Add(capacity, cancellationToken);
    }

    /// <summary>
    /// Streams every health change from now on, in order, through a bounded channel that drops its oldest change when
    /// full. The channel completes when the collector is disposed or <paramref name="cancellationToken"/> fires.
    /// </summary>
    /// <param name="capacity">How many changes the channel holds, 1 or more.</param>
    /// <param name="cancellationToken">Ends the subscription.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is zero or negative.</exception>
    /// <exception cref="ObjectDisposedException">The collector was disposed.</exception>
    public ChannelReader<GpuHealthChange> SubscribeHealthChanges(int capacity = 256, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _healthSubscribers.Add(capacity, cancellationToken);
    }

    /// <summary>Stops the staleness timer, completes every subscription and ends the instruments. Idempotent.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _sweepTimer.Dispose();
            _sampleSubscribers.CompleteAll();
            _healthSubscribers.CompleteAll();
            if (_ownsMeter)
            {
                _meter.Dispose();
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    DeviceState IDeviceStateSource.GetState(int slot) => GetState(slot, _time.GetUtcNow().UtcTicks);

    /// <summary>A device's state for scheduling at a given time (lets a caller judging many devices read the clock once).</summary>
    /// <param name="slot">A position in <see cref="Devices"/>.</param>
    /// <param name="nowUtcTicks">Now, in UTC ticks.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slot"/> is not a slot.</exception>
    internal DeviceState GetState(int slot, long nowUtcTicks)
    {
        var slots = Volatile.Read(ref _table).Slots;
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)slot, (uint)slots.Length, nameof(slot));
        return slots[slot].ReadState(nowUtcTicks, _settings.StalenessTicks);
    }

    /// <summary>
    /// Adds a newly discovered device, or brings a lost one back (same UUID) with a fresh history and fresh health
    /// rules; its slot is kept. For a device already present and not lost, only its facts are replaced. Used by the
    /// manager after discovery.
    /// </summary>
    /// <param name="device">The device as discovered now.</param>
    /// <returns>The device's slot.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> is <see langword="null"/>.</exception>
    /// <exception cref="ObjectDisposedException">The collector was disposed.</exception>
    internal int AddOrRejoin(GpuDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        DeviceSlot? slot;
        bool added = false, rejoined = false;
        lock (_topologyLock)
        {
            var table = _table;
            if (table.ByUuid.TryGetValue(device.Uuid, out slot))
            {
                var before = slot.Device;
                rejoined = slot.Rejoin(device);
                if (!ReferenceEquals(before, device))
                {
                    Volatile.Write(ref _table, new DeviceTable(table.Slots, table.ByUuid));
                }
            }
            else
            {
                slot = new DeviceSlot(device, table.Slots.Length, _settings.HistoryCapacity);
                Volatile.Write(ref _table, new DeviceTable([.. table.Slots, slot]));
                added = true;
            }

            if (added || rejoined)
            {
                Interlocked.Increment(ref _version);
            }
        }

        if (added)
        {
            Log.DeviceAdded(_logger, device.Uuid, slot.Index);
        }
        else if (rejoined)
        {
            Log.DeviceRejoined(_logger, device.Uuid, slot.Index);
            RefreshHealth(slot);
        }

        return slot.Index;
    }

    /// <summary>Marks a device lost (health <see cref="GpuHealth.Lost"/> until it rejoins through <see cref="AddOrRejoin"/>); its readings are refused meanwhile.</summary>
    /// <param name="slot">The device's slot.</param>
    /// <param name="reason">Why, for the log and the health change.</param>
    /// <returns>Whether the device was not lost before.</returns>
    internal bool MarkLost(int slot, string reason)
    {
        var s = SlotAt(slot);
        if (!s.MarkLost(reason))
        {
            return false;
        }

        Interlocked.Increment(ref _version);
        Log.DeviceLost(_logger, s.Device.Uuid, reason);
        RefreshHealth(s);
        return true;
    }

    /// <summary>Counts a failed reading of a device (the consecutive failure rules); a successful reading resets the count.</summary>
    /// <param name="slot">The device's slot.</param>
    /// <param name="reason">Why it failed, for the health change.</param>
    /// <returns>Whether it counted (the device is not lost).</returns>
    internal bool RecordFailure(int slot, string reason)
    {
        var s = SlotAt(slot);
        if (!s.RecordFailure(reason, _settings))
        {
            return false;
        }

        RefreshHealth(s);
        return true;
    }

    /// <summary>
    /// Applies an event from <see cref="IGpuBackend.WatchEventsAsync"/>: a critical Xid or a double-bit ECC error makes
    /// the device Unhealthy (for <see cref="TelemetryOptions.CriticalEventHealthDuration"/> from the event, or until it
    /// rejoins); a lost event marks it lost; a single-bit ECC error changes nothing. Events for unknown devices are ignored.
    /// </summary>
    /// <param name="deviceEvent">The event.</param>
    /// <returns>Whether the event changed anything.</returns>
    internal bool ApplyEvent(in GpuDeviceEvent deviceEvent)
    {
        var kind = deviceEvent.Kind;
        if (deviceEvent.Uuid is null || !Volatile.Read(ref _table).ByUuid.TryGetValue(deviceEvent.Uuid, out var slot))
        {
            Log.EventIgnored(_logger, kind, deviceEvent.Uuid ?? "(null)", "unknown device");
            return false;
        }

        switch (kind)
        {
            case GpuDeviceEventKind.Lost:
                return MarkLost(slot.Index, string.Create(CultureInfo.InvariantCulture, $"the backend reported the device lost at {deviceEvent.Timestamp:O}"));
            case GpuDeviceEventKind.CriticalXid:
            case GpuDeviceEventKind.DoubleBitEccError:
                var until = _settings.CriticalEventDuration is TimeSpan d ? SaturatingAdd(deviceEvent.Timestamp.UtcTicks, d.Ticks) : long.MaxValue;
                var reason = kind == GpuDeviceEventKind.CriticalXid
                    ? string.Create(CultureInfo.InvariantCulture, $"critical Xid {deviceEvent.Code} at {deviceEvent.Timestamp:O}")
                    : string.Create(CultureInfo.InvariantCulture, $"double-bit ECC error at {deviceEvent.Timestamp:O}");
                Log.CriticalEvent(_logger, slot.Device.Uuid, kind, deviceEvent.Code);
                if (!slot.RecordCriticalEvent(reason, until))
                {
                    return false;
                }

                RefreshHealth(slot);
                return true;
            default:
                Log.EventIgnored(_logger, kind, deviceEvent.Uuid, "not a health event");
                return false;
        }
    }

    /// <summary>The fresh newest readings of devices that are not lost, judged at one instant (for the instruments).</summary>
    internal List<(GpuDevice Device, GpuSample Sample)> FreshSamples()
    {
        var now = _time.GetUtcNow().UtcTicks;
        var slots = Volatile.Read(ref _table).Slots;
        var result = new List<(GpuDevice, GpuSample)>(slots.Length);
        foreach (var slot in slots)
        {
            var s = slot.ReadSnapshot();
            if (s.IsFresh(now, _settings.StalenessTicks))
            {
                result.Add((slot.Device, s.Latest));
            }
        }

        return result;
    }

    /// <summary>Re-judges every device against the clock and publishes what changed (staleness, expired events).</summary>
    internal void Sweep()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        var now = _time.GetUtcNow().UtcTicks;
        foreach (var slot in Volatile.Read(ref _table).Slots)
        {
            var s = slot.ReadSnapshot();
            if (s.Health(now, _settings.StalenessTicks) != slot.Published || (s.CriticalEventUntil != 0 && now >= s.CriticalEventUntil))
            {
                RefreshHealth(slot);
            }
        }
    }

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static DeviceSlot ThrowUnknownDevice(string uuid) =>
        throw new ArgumentException($"No device with UUID '{uuid}' is known.", nameof(uuid));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowLost(string uuid) =>
        throw new InvalidOperationException($"Device '{uuid}' is lost; its readings are refused until it is discovered again.");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool RecordCore(DeviceSlot slot, in GpuSample sample)
    {
        SampleValidator.Validate(sample, slot.TotalMemoryBytes);
        var outcome = slot.Record(sample, _settings);
        if (outcome == RecordOutcome.Lost)
        {
            return false;
        }

        if (outcome == RecordOutcome.HealthMayChange)
        {
            RefreshHealth(slot);
        }

        if (_sampleSubscribers.Any)
        {
            _sampleSubscribers.Publish(new DeviceSample(slot.Device, sample));
        }

        return true;
    }

    /// <summary>Re-judges one device against the clock; publishes a change, in order, under the health lock.</summary>
    private void RefreshHealth(DeviceSlot slot)
    {
        lock (_healthLock)
        {
            var now = _time.GetUtcNow();
            GpuHealthChange? change = null;
            slot.Enter();
            try
            {
                var (health, reason) = slot.JudgeAndDescribeHeld(now.UtcTicks, _settings);
                if (health != slot.Published)
                {
                    change = new GpuHealthChange(slot.Device, slot.Published, health, reason, now);
                    slot.Published = health;
                }
            }
            finally
            {
                slot.Exit();
            }

            if (change is not null)
            {
                Publish(change);
            }
        }
    }

    private void Publish(GpuHealthChange change)
    {
        var level = change.Current switch
        {
            GpuHealth.Healthy => LogLevel.Information,
            GpuHealth.Unknown when change.Previous == GpuHealth.Lost => LogLevel.Information,
            _ => LogLevel.Warning,
        };
        Log.HealthChanged(_logger, level, change.Device.Uuid, change.Previous, change.Current, change.Reason);
        _healthSubscribers.Publish(change);
        if (HealthChanged is { } handlers)
        {
            foreach (var handler in handlers.GetInvocationList())
            {
                try
                {
                    ((Action<GpuHealthChange>)handler)(change);
                }
#pragma warning disable CA1031 // A handler's bug must not stop the others or the collector.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    Log.HealthHandlerFailed(_logger, e);
                }
            }
        }
    }

    private DeviceSlot Find(string uuid)
    {
        ArgumentNullException.ThrowIfNull(uuid);
        return Volatile.Read(ref _table).Lookup(uuid) ?? ThrowUnknownDevice(uuid);
    }

    private DeviceSlot SlotAt(int slot)
    {
        var slots = Volatile.Read(ref _table).Slots;
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)slot, (uint)slots.Length, nameof(slot));
        return slots[slot];
    }

    /// <summary>The earliest timestamp a query may return: the window's start, and no older than the maximum age.</summary>
    private long Since(TimeSpan? window)
    {
        var now = _time.GetUtcNow().UtcTicks;
        long since = 0;
        if (window is TimeSpan w)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(w, TimeSpan.Zero, nameof(window));
            since = Math.Max(0, now - w.Ticks);
        }

        if (_settings.MaxAgeTicks != 0)
        {
            since = Math.Max(since, now - _settings.MaxAgeTicks);
        }

        return since;
    }

    private GpuDeviceStatus StatusOf(DeviceSlot slot, long nowUtcTicks)
    {
        var s = slot.ReadSnapshot();
        return new GpuDeviceStatus(
            slot.Device,
            s.Health(nowUtcTicks, _settings.StalenessTicks),
            s.HasSample ? s.Latest : null,
            s.IsFresh(nowUtcTicks, _settings.StalenessTicks),
            s.ConsecutiveFailures);
    }

    /// <summary>The devices, their slots and the UUID index; immutable.</summary>
    private sealed class DeviceTable
    {
        public DeviceTable(DeviceSlot[] slots)
            : this(slots, slots.ToFrozenDictionary(s => s.Device.Uuid, StringComparer.Ordinal))
        {
        }

        public DeviceTable(DeviceSlot[] slots, FrozenDictionary<string, DeviceSlot> byUuid)
        {
            Slots = slots;
            ByUuid = byUuid;
            DeviceList = new ReadOnlyCollection<GpuDevice>([.. slots.Select(s => s.Device)]);
        }

        public DeviceSlot[] Slots { get; }

        public FrozenDictionary<string, DeviceSlot> ByUuid { get; }

        public ReadOnlyCollection<GpuDevice> DeviceList { get; }

        /// <summary>
        /// Finds a device's slot. Callers usually pass the device's own UUID string, so a few reference comparisons
        /// find it before any hashing; otherwise the frozen dictionary does.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public DeviceSlot? Lookup(string uuid)
        {
            var slots = Slots;
            var scan = Math.Min(slots.Length, ReferenceScanLimit);
            for (var i = 0; i < scan; i++)
            {
                if (ReferenceEquals(slots[i].Uuid, uuid))
                {
                    return slots[i];
                }
            }

            return ByUuid.TryGetValue(uuid, out var slot) ? slot : null;
        }
    }
}
