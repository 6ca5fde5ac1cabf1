using System.Buffers;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

public sealed partial class TelemetryCollector
{
    /// <summary>The newest reading and health of a device.</summary>
    /// <param name="uuid">The device's UUID.</param>
    /// <returns>The status now.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    public GpuDeviceStatus GetStatus(string uuid) => StatusOf(Find(uuid), _clock.Now());

    /// <summary>The newest reading and health of every device, in slot order.</summary>
    /// <returns>One status per device.</returns>
    public IReadOnlyList<GpuDeviceStatus> GetStatuses()
    {
        var now = _clock.Now();
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
    /// <param name="window">Only readings recorded this recently (on the collector's monotonic clock); all kept readings when <see langword="null"/>. More than 0.</param>
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
    /// <param name="window">Only readings recorded this recently (on the collector's monotonic clock); all kept readings when <see langword="null"/>. More than 0.</param>
    /// <returns>The readings, possibly none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> names no known device.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="window"/> is zero or negative.</exception>
    public IReadOnlyList<GpuSample> GetHistory(string uuid, TimeSpan? window = null)
    {
        var slot = Find(uuid);
        return slot.GetHistory(Since(window));
    }

    /// <summary>
    /// Summarizes one reading of a device over the readings recorded in the last <paramref name="window"/> (on the
    /// collector's monotonic clock). The summary's <see cref="TelemetrySummary.From"/> and <see cref="TelemetrySummary.To"/>
    /// are when the oldest and newest readings counted were recorded, on the wall clock as it reads now.
    /// </summary>
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

        var now = _clock.Now();
        var since = Since(window, now);
        double[]? rented = null;
        var capacity = slot.Capacity;
        var buffer = capacity <= StackSummaryLimit
            ? stackalloc double[StackSummaryLimit]
            : (rented = ArrayPool<double>.Shared.Rent(capacity));
        try
        {
            var n = slot.ExtractMetric(since, metric, buffer, out var from, out var to);
            if (n == 0)
            {
                return null;
            }

            var wall = _time.GetUtcNow();
            return SummaryMath.Summarize(metric, buffer[..n], MonotonicClock.WallTime(from, now, wall).UtcTicks, MonotonicClock.WallTime(to, now, wall).UtcTicks);
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
        var monotonicNow = _clock.Now();
        var slots = Volatile.Read(ref _table).Slots;
        int fresh = 0, utilizationCount = 0, temperatureCount = 0, powerCount = 0;
        long total = 0, used = 0, free = 0;
        double utilization = 0, temperature = 0, power = 0;
        foreach (var slot in slots)
        {
            var s = slot.ReadSnapshot();
            if (!s.IsFresh(monotonicNow, _settings.StalenessTicks))
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

    /// <inheritdoc />
    long IDeviceStateSource.Now => _clock.Now();

    /// <inheritdoc />
    DeviceState IDeviceStateSource.GetState(int slot) => GetState(slot, _clock.Now());

    /// <inheritdoc />
    DeviceState IDeviceStateSource.GetState(int slot, long now) => GetState(slot, now);

    /// <summary>A device's state for scheduling at a given time (lets a caller judging many devices read the clock once).</summary>
    /// <param name="slot">A position in <see cref="Devices"/>.</param>
    /// <param name="now">Now, as an opaque value of the collector's own time base: <see cref="MonotonicClock.Now"/> of <see cref="Clock"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="slot"/> is not a slot.</exception>
    internal DeviceState GetState(int slot, long now)
    {
        var slots = Volatile.Read(ref _table).Slots;
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)slot, (uint)slots.Length, nameof(slot));
        return slots[slot].ReadState(now, _settings.StalenessTicks);
    }

    /// <summary>The fresh newest readings of devices that are not lost, judged at one instant (for the instruments).</summary>
    internal List<(GpuDevice Device, GpuSample Sample)> FreshSamples()
    {
        var now = _clock.Now();
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

    /// <summary>The earliest receipt time (monotonic ticks) a query may return: the window's start, and no older than the maximum age.</summary>
    private long Since(TimeSpan? window) => Since(window, _clock.Now());

    /// <inheritdoc cref="Since(TimeSpan?)"/>
    private long Since(TimeSpan? window, long now)
    {
        var since = long.MinValue;
        if (window is TimeSpan w)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(w, TimeSpan.Zero, nameof(window));
            since = SaturatingSubtract(now, w.Ticks);
        }

        if (_settings.MaxAgeTicks != 0)
        {
            since = Math.Max(since, SaturatingSubtract(now, _settings.MaxAgeTicks));
        }

        return since;
    }

    private static long SaturatingSubtract(long a, long b) => a < long.MinValue + b ? long.MinValue : a - b;

    private GpuDeviceStatus StatusOf(DeviceSlot slot, long now)
    {
        var s = slot.ReadSnapshot();
        var health = s.Health(now, _settings.StalenessTicks);
        string? reason = null;
        if (health != GpuHealth.Healthy)
        {
            // Judged again with the words, under the slot's lock, so health and reason agree (a query, not the hot path).
            slot.Enter();
            try
            {
                health = slot.JudgeHeld(now, _settings);
                reason = slot.DescribeHeld(health, now, _settings);
            }
            finally
            {
                slot.Exit();
            }

            reason = health == GpuHealth.Healthy ? null : reason;
        }

        return new GpuDeviceStatus(
            slot.Device,
            health,
            s.HasSample ? s.Latest : null,
            s.IsFresh(now, _settings.StalenessTicks),
            s.ConsecutiveFailures) { Reason = reason };
    }
}
