using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

public sealed partial class TelemetryCollector
{
    /// <summary>Records a reading of a device.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <param name="sample">The reading. Values must be finite and not negative, utilization within 0–100, memory in use
    /// at most the total (the reading's, else the device's), and the timestamp set. The timestamp is information only:
    /// the reading is aged from now, when it is recorded, on the collector's monotonic clock, whatever it is stamped.</param>
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
                    Volatile.Write(ref _table, new SlotDirectory(table.Slots, table.ByUuid));
                }
            }
            else
            {
                slot = new DeviceSlot(device, table.Slots.Length, _settings.HistoryCapacity);
                Volatile.Write(ref _table, new SlotDirectory([.. table.Slots, slot]));
                added = true;
            }

            if (added || rejoined)
            {
                Interlocked.Increment(ref _version);
            }
        }

        if (added)
        {
            TelemetryLog.DeviceAdded(_logger, device.Uuid, slot.Index);
        }
        else if (rejoined)
        {
            TelemetryLog.DeviceRejoined(_logger, device.Uuid, slot.Index);
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
        TelemetryLog.DeviceLost(_logger, s.Device.Uuid, reason);
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
    /// The duration runs on the monotonic clock from when the event is applied; the event's own wall-clock stamp is
    /// named in the reason only.
    /// </summary>
    /// <param name="deviceEvent">The event.</param>
    /// <returns>Whether the event changed anything.</returns>
    internal bool ApplyEvent(in GpuDeviceEvent deviceEvent)
    {
        var kind = deviceEvent.Kind;
        if (deviceEvent.Uuid is null || !Volatile.Read(ref _table).ByUuid.TryGetValue(deviceEvent.Uuid, out var slot))
        {
            TelemetryLog.EventIgnored(_logger, kind, deviceEvent.Uuid ?? "(null)", "unknown device");
            return false;
        }

        switch (kind)
        {
            case GpuDeviceEventKind.Lost:
                return MarkLost(slot.Index, string.Create(CultureInfo.InvariantCulture, $"the backend reported the device lost at {deviceEvent.Timestamp:O}"));
            case GpuDeviceEventKind.CriticalXid:
            case GpuDeviceEventKind.DoubleBitEccError:
                var until = _settings.CriticalEventDuration is TimeSpan d ? SaturatingAdd(_clock.Now(), d.Ticks) : long.MaxValue;
                var reason = kind == GpuDeviceEventKind.CriticalXid
                    ? string.Create(CultureInfo.InvariantCulture, $"critical Xid {deviceEvent.Code} at {deviceEvent.Timestamp:O}")
                    : string.Create(CultureInfo.InvariantCulture, $"double-bit ECC error at {deviceEvent.Timestamp:O}");
                TelemetryLog.CriticalEvent(_logger, slot.Device.Uuid, kind, deviceEvent.Code);
                if (!slot.RecordCriticalEvent(reason, until))
                {
                    return false;
                }

                RefreshHealth(slot);
                return true;
            default:
                TelemetryLog.EventIgnored(_logger, kind, deviceEvent.Uuid, "not a health event");
                return false;
        }
    }

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowLost(string uuid) =>
        throw new InvalidOperationException($"Device '{uuid}' is lost; its readings are refused until it is discovered again.");

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool RecordCore(DeviceSlot slot, in GpuSample sample)
    {
        SampleValidator.Validate(sample, slot.TotalMemoryBytes);

        // Read outside the slot's lock (a clock read is the slowest step); the slot raises it to its newest reading's.
        var outcome = slot.Record(sample, _clock.Now(), _settings);
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
}
