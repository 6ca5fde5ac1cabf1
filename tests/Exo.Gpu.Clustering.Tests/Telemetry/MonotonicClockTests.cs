using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

public class MonotonicClockTests
{
    [Fact]
    public void Now_FakeClock_IsItsTimestampInTicks_AndIgnoresWallSteps()
    {
        var time = new SteppingTimeProvider(TelemetryTestKit.Start);
        var clock = new MonotonicClock(time);
        var start = clock.Now();
        start.Should().Be(TelemetryTestKit.Start.UtcTicks);
        time.StepWallClock(TimeSpan.FromHours(-1));
        clock.Now().Should().Be(start);
        time.Advance(TimeSpan.FromMilliseconds(1500));
        clock.Now().Should().Be(start + TimeSpan.FromMilliseconds(1500).Ticks);
    }

    [Fact]
    public void Now_NanosecondClock_ScaledToTicksAndNeverBackwards()
    {
        // Property test: for random increasing nanosecond timestamps (Stopwatch's frequency on Linux), Now is the
        // timestamp in 100 ns ticks (within one tick) and never decreases.
        var random = new Random(7);
        var time = new NanosecondClock();
        var clock = new MonotonicClock(time);
        var previous = long.MinValue;
        for (var i = 0; i < 10_000; i++)
        {
            time.Timestamp += random.Next(0, 1_000_000) * (long)random.Next(1, 1000);
            var now = clock.Now();
            now.Should().BeGreaterThanOrEqualTo(previous);
            Math.Abs(now - (time.Timestamp / 100)).Should().BeLessThanOrEqualTo(1);
            previous = now;
        }
    }

    [Fact]
    public void Now_SystemClock_MillisecondResolutionAndAdvances()
    {
        var clock = new MonotonicClock(TimeProvider.System);
        var first = clock.Now();
        (first % TimeSpan.TicksPerMillisecond).Should().Be(0);
        Math.Abs(first - (Environment.TickCount64 * TimeSpan.TicksPerMillisecond)).Should().BeLessThan(TimeSpan.TicksPerSecond);
        clock.Now().Should().BeGreaterThanOrEqualTo(first);
    }

    [Fact]
    public void WallTime_IsWallNowLessTheMonotonicAge()
    {
        var wall = TelemetryTestKit.Start;
        MonotonicClock.WallTime(then: 1_000, now: 1_000 + TimeSpan.TicksPerSecond, wall).Should().Be(wall.AddSeconds(-1));
        MonotonicClock.WallTime(then: 5_000, now: 1_000, wall).Should().Be(wall, "a time after now is now");
    }

    private sealed class NanosecondClock : TimeProvider
    {
        public long Timestamp { get; set; } = 1_000_000_000_000;

        public override long TimestampFrequency => 1_000_000_000;

        public override long GetTimestamp() => Timestamp;
    }
}
