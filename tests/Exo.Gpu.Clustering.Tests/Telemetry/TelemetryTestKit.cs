using System.Globalization;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Telemetry;

/// <summary>Devices, readings, clocks and collectors for the telemetry tests.</summary>
internal static class TelemetryTestKit
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public const long TotalMemory = 80L << 30;

    public static GpuDevice Device(int index, long totalMemoryBytes = TotalMemory) =>
        new(string.Create(CultureInfo.InvariantCulture, $"GPU-00000000-0000-0000-0000-{index:D12}"), index, "Test GPU", totalMemoryBytes, GpuBackendKind.Simulated);

    public static GpuDevice[] Devices(int count) => [.. Enumerable.Range(0, count).Select(i => Device(i))];

    /// <summary>A healthy, complete reading.</summary>
    public static GpuSample Sample(
        DateTimeOffset at,
        double utilization = 40,
        double temperature = 60,
        double power = 300,
        long memoryUsed = 10L << 30,
        double powerLimit = 700,
        long eccUncorrected = 0,
        GpuClockEventReasons reasons = GpuClockEventReasons.None) => new()
        {
            Timestamp = at,
            UtilizationPercent = utilization,
            MemoryUtilizationPercent = utilization / 2,
            TemperatureC = temperature,
            PowerW = power,
            PowerLimitW = powerLimit,
            MemoryUsedBytes = memoryUsed,
            MemoryTotalBytes = TotalMemory,
            SmClockMHz = 1980,
            ClockEventReasons = reasons,
            EccCorrectedErrors = 0,
            EccUncorrectedErrors = eccUncorrected,
        };

    /// <summary>
    /// Moves the fake clock forward to the reading's stamp and returns the reading, for tests that record a reading
    /// "taken at" a time: the collector ages readings from when they are recorded, on the clock's monotonic time.
    /// </summary>
    public static GpuSample At(FakeTimeProvider time, GpuSample sample)
    {
        if (sample.Timestamp > time.GetUtcNow())
        {
            time.SetUtcNow(sample.Timestamp);
        }

        return sample;
    }

    /// <summary>Options with the health hold time given and everything else default.</summary>
    public static TelemetryOptions Options(int capacity = 600, TimeSpan? hold = null, TimeSpan? maxAge = null) => new()
    {
        HistoryCapacity = capacity,
        HealthHoldTime = hold ?? TimeSpan.FromSeconds(30),
        MaxSampleAge = maxAge,
    };

    public static TelemetryCollector Collector(FakeTimeProvider time, int devices = 1, TelemetryOptions? options = null, ILoggerFactory? logs = null) =>
        new(Devices(devices), options ?? Options(), time, logs);

    /// <summary>A guard for awaits that should complete at once: fails the test instead of hanging it.</summary>
    public static CancellationToken Guard() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;
}

/// <summary>An <see cref="ILoggerFactory"/> whose loggers all write to one <see cref="FakeLogCollector"/>.</summary>
internal sealed class FakeLoggerFactory : ILoggerFactory
{
    public FakeLogCollector Collector { get; } = new();

    public ILogger CreateLogger(string categoryName) => new FakeLogger(Collector, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>
/// Tests that saturate the CPUs (many threads, ten million readings) or that follow a poller through the thread pool
/// run alone, so neither slows the other.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "Telemetry timing-sensitive";
}

/// <summary>
/// A fake clock whose wall time can be stepped back and forward (as NTP or an operator does) while its monotonic
/// time (<see cref="TimeProvider.GetTimestamp"/>) and its timers run on unaffected: only <see cref="FakeTimeProvider.Advance"/>
/// moves those.
/// </summary>
internal sealed class SteppingTimeProvider(DateTimeOffset start) : FakeTimeProvider(start)
{
    private long _offsetTicks;

    /// <summary>How far the wall clock is from the monotonic time line.</summary>
    public TimeSpan WallOffset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    /// <summary>Steps the wall clock by <paramref name="step"/> (back when negative); monotonic time and timers do not move.</summary>
    public void StepWallClock(TimeSpan step) => Interlocked.Add(ref _offsetTicks, step.Ticks);

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + WallOffset;

    // The monotonic time is the fake clock's own time line, never the stepped wall clock.
    public override long GetTimestamp() => base.GetUtcNow().UtcTicks;
}
