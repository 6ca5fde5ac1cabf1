using System.Runtime.CompilerServices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// The telemetry's time base: <see cref="TimeProvider.GetTimestamp"/> of the collector's clock, in
/// <see cref="TimeSpan"/> ticks (100 ns), so ages, staleness, windows and hold times are plain tick arithmetic and a
/// wall-clock step (NTP, a manual change) moves none of them. Only differences of two readings mean anything; the
/// origin is the clock's own (boot time on <see cref="TimeProvider.System"/>).
/// </summary>
/// <remarks>
/// On <see cref="TimeProvider.System"/> it reads <see cref="Environment.TickCount64"/>: the same monotonic system clock
/// at millisecond resolution (Linux: <c>CLOCK_MONOTONIC_COARSE</c>, one memory read in the vDSO), because a
/// high-resolution read (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>) costs about as much as recording a
/// whole reading, and every recorded reading reads the clock once. Ages, staleness limits and hold times are seconds;
/// a few milliseconds of resolution change none of them. Any other <see cref="TimeProvider"/> (a fake or virtual
/// clock) is read through <see cref="TimeProvider.GetTimestamp"/>, exactly.
/// </remarks>
internal sealed class MonotonicClock
{
    /// <summary>The clock.</summary>
    private readonly TimeProvider _time;

    /// <summary>Whether the clock is <see cref="TimeProvider.System"/>, read through <see cref="Environment.TickCount64"/>.</summary>
    private readonly bool _system;

    /// <summary>Whether the clock already counts <see cref="TimeSpan"/> ticks (a fake clock), so no scaling is needed.</summary>
    private readonly bool _inTicks;

    /// <summary><see cref="TimeSpan.TicksPerSecond"/> over the clock's timestamp frequency.</summary>
    private readonly double _scale;

    public MonotonicClock(TimeProvider time)
    {
        _time = time;
        _system = ReferenceEquals(time, TimeProvider.System);
        var frequency = time.TimestampFrequency;
        _inTicks = frequency == TimeSpan.TicksPerSecond;
        _scale = (double)TimeSpan.TicksPerSecond / frequency;
    }

    /// <summary>The clock.</summary>
    public TimeProvider Time => _time;

    /// <summary>Now, in <see cref="TimeSpan"/> ticks on the monotonic time base (never moves back, whatever the wall clock does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Now()
    {
        if (_system)
        {
            return Environment.TickCount64 * TimeSpan.TicksPerMillisecond;
        }

        var timestamp = _time.GetTimestamp();

        // Multiplying by a positive constant and truncating keeps the order of the timestamps, so Now never goes back.
        return _inTicks ? timestamp : (long)(timestamp * _scale);
    }

    /// <summary>
    /// The wall-clock time at which something happened at monotonic <paramref name="then"/>, seen from now: the wall
    /// clock now, less how long ago it was on the monotonic clock (so times in one answer are ordered like their events).
    /// </summary>
    /// <param name="then">A time from <see cref="Now"/>.</param>
    /// <param name="now">A later time from <see cref="Now"/>.</param>
    /// <param name="wallNow">The wall clock read with <paramref name="now"/>.</param>
    public static DateTimeOffset WallTime(long then, long now, DateTimeOffset wallNow)
    {
        var ago = Math.Max(0, now - then);
        return new DateTimeOffset(Math.Max(0, wallNow.UtcTicks - ago), TimeSpan.Zero);
    }
}
