using System.Collections.Frozen;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;
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
/// <para><b>Time.</b> The collector stamps every reading it records with the monotonic time of its clock
/// (<see cref="TimeProvider.GetTimestamp"/>) at that moment, and measures ages, staleness, windows, age eviction,
/// hold times and the duration of critical events with it. A reading's own <see cref="GpuSample.Timestamp"/> (the
/// wall clock of whoever took it) is kept and returned as information only: it is never compared with the clock,
/// so a wall-clock step (an NTP correction, a manual change, a reading stamped in the future or the past) changes
/// no health, no freshness and no order, and a reading is never refused for its stamp.</para>
/// <para><b>Order.</b> History is in the order readings were recorded. A device's readings are usually recorded by
/// one poller; when two threads record the same device at once, the history takes them in the order they entered.</para>
/// <para><b>Staleness.</b> A reading recorded more than <see cref="TelemetryOptions.StalenessLimit"/> ago is stale: it
/// is never current in <see cref="GetClusterTelemetry"/>, the instruments or device selection, and the device's health
/// is <see cref="GpuHealth.Unknown"/>.</para>
/// <para><b>Health.</b> Judged, in this order: <see cref="GpuHealth.Lost"/> once the backend reports the device lost
/// (left only when it is discovered again); <see cref="GpuHealth.Unhealthy"/> after a critical Xid or double-bit ECC
/// event, or after <see cref="TelemetryOptions.SamplingFailuresUnhealthy"/> failed readings in a row (these hold even
/// without a fresh reading); <see cref="GpuHealth.Unknown"/> without a fresh reading; otherwise the worst of the
/// reading rules (temperature, power against its limit, uncorrected ECC errors, hardware slowdown) and the
/// failure rule, or <see cref="GpuHealth.Healthy"/>. Each reading rule turns on at its enter threshold and turns off
/// only after the readings stayed below its leave threshold for <see cref="TelemetryOptions.HealthHoldTime"/>
/// (measured on the monotonic clock between the readings' recording), so a value hovering around a threshold does not
/// flap. Every change is logged and published to <see cref="SubscribeHealthChanges"/>, in order; recording a reading
/// that leaves the verdict as it was takes no collector-wide lock and allocates nothing.</para>
/// <para><b>Thread safety.</b> Every member may be called concurrently. Writers of one device serialize on a
/// per-device lock held for a few nanoseconds; readers of the newest reading take no lock and never see a torn one.</para>
/// <para><b>Disposal.</b> <see cref="DisposeAsync"/> is idempotent; it completes every subscription and ends the
/// instruments. Queries keep answering from the history afterwards; <see cref="Record"/> and the subscriptions throw.</para>
/// </remarks>
public sealed partial class TelemetryCollector : IAsyncDisposable, IDeviceStateSource
{
    /// <summary>A device's history is summarized on the stack up to this capacity; larger ones rent a buffer.</summary>
    private const int StackSummaryLimit = 1024;

    /// <summary>How many slots <see cref="SlotDirectory.Lookup"/> compares by reference before hashing.</summary>
    private const int ReferenceScanLimit = 16;

    /// <summary>The validated, frozen options.</summary>
    private readonly TelemetrySettings _settings;

    /// <summary>The clock: its wall time stamps health changes and summaries (information only).</summary>
    private readonly TimeProvider _time;

    /// <summary>The clock's monotonic time: ages, staleness, windows, hold times, event durations.</summary>
    private readonly MonotonicClock _clock;

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
    private SlotDirectory _table;

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
        _clock = new MonotonicClock(_time);
        _logger = loggerFactory?.CreateLogger<TelemetryCollector>() ?? NullLogger<TelemetryCollector>.Instance;
        LoggerFactory = loggerFactory;
        var slots = new DeviceSlot[list.Length];
        for (var i = 0; i < list.Length; i++)
        {
            slots[i] = new DeviceSlot(list[i], i, _settings.HistoryCapacity);
        }

        _table = new SlotDirectory(slots);
        if (meterFactory is not null)
        {
            _meter = meterFactory.Create(new MeterOptions(GpuInstruments.MeterName));
        }
        else
        {
            _meter = new Meter(GpuInstruments.MeterName);
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

    /// <summary>The clock's monotonic time base (for the poller and the scheduler's <see cref="GetState(int, long)"/>).</summary>
    internal MonotonicClock Clock => _clock;

    /// <summary>The logger factory given, if any (for the poller).</summary>
    internal ILoggerFactory? LoggerFactory { get; }

    /// <summary>The meter of the device instruments, shared with a selector built on this collector (tests listen to this instance only).</summary>
    internal Meter Meter => _meter;

    /// <summary>Whether the collector has been disposed (its instruments then report nothing: the meter may outlive it).</summary>
    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>The slots, in slot order (for the poller).</summary>
    internal IReadOnlyList<DeviceSlot> Slots => Volatile.Read(ref _table).Slots;

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

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static DeviceSlot ThrowUnknownDevice(string uuid) =>
        throw new ArgumentException($"No device with UUID '{uuid}' is known.", nameof(uuid));

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

    /// <summary>The devices, their slots and the UUID index; immutable.</summary>
    private sealed class SlotDirectory
    {
        public SlotDirectory(DeviceSlot[] slots)
            : this(slots, slots.ToFrozenDictionary(s => s.Device.Uuid, StringComparer.Ordinal))
        {
        }

        public SlotDirectory(DeviceSlot[] slots, FrozenDictionary<string, DeviceSlot> byUuid)
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
