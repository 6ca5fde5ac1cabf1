using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// Settings of a <see cref="TelemetryCollector"/> and of the poller that feeds it. Validated once, when the collector
/// is created; later changes to this object do not affect a collector already created.
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>The default of <see cref="HistoryCapacity"/>: 600 readings (ten minutes at one per second).</summary>
    public const int DefaultHistoryCapacity = 600;

    /// <summary>The least <see cref="HistoryCapacity"/>: 1 (inclusive).</summary>
    public const int MinHistoryCapacity = 1;

    /// <summary>The largest <see cref="HistoryCapacity"/>: 1,048,576 (inclusive).</summary>
    public const int MaxHistoryCapacity = 1 << 20;

    /// <summary>The least <see cref="SamplingFailuresDegraded"/>: 1 (inclusive).</summary>
    public const int MinSamplingFailuresDegraded = 1;

    /// <summary>The default of <see cref="SamplingFailuresDegraded"/>: 2.</summary>
    public const int DefaultSamplingFailuresDegraded = 2;

    /// <summary>The default of <see cref="SamplingFailuresUnhealthy"/>: 4.</summary>
    public const int DefaultSamplingFailuresUnhealthy = 4;

    /// <summary>The default of <see cref="StalenessLimit"/>: 5 s.</summary>
    public static readonly TimeSpan DefaultStalenessLimit = TimeSpan.FromSeconds(5);

    /// <summary>The default of <see cref="HealthHoldTime"/>: 30 s.</summary>
    public static readonly TimeSpan DefaultHealthHoldTime = TimeSpan.FromSeconds(30);

    /// <summary>The default of <see cref="TemperatureDegradedC"/>: enter 85 °C, leave 80 °C.</summary>
    public static readonly HealthThreshold DefaultTemperatureDegradedC = new(85, 80);

    /// <summary>The default of <see cref="TemperatureUnhealthyC"/>: enter 95 °C, leave 90 °C.</summary>
    public static readonly HealthThreshold DefaultTemperatureUnhealthyC = new(95, 90);

    /// <summary>The default of <see cref="PowerDegradedFraction"/>: enter 0.98, leave 0.90.</summary>
    public static readonly HealthThreshold DefaultPowerDegradedFraction = new(0.98, 0.90);

    /// <summary>The default of <see cref="EccUncorrectedUnhealthy"/>: enter 1, leave 1.</summary>
    public static readonly HealthThreshold DefaultEccUncorrectedUnhealthy = new(1, 1);

    /// <summary>The default of <see cref="PollInterval"/>: 1 s.</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(1);

    /// <summary>The largest <see cref="PollInterval"/>: 1 hour (inclusive).</summary>
    public static readonly TimeSpan MaxPollInterval = TimeSpan.FromHours(1);

    /// <summary>The default of <see cref="SampleTimeout"/>: 2 s.</summary>
    public static readonly TimeSpan DefaultSampleTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The default of <see cref="MaxBackoff"/>: 30 s.</summary>
    public static readonly TimeSpan DefaultMaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many readings each device keeps, <see cref="MinHistoryCapacity"/> (1) to <see cref="MaxHistoryCapacity"/>
    /// (1,048,576); 600 (ten minutes at one per second) by default.
    /// </summary>
    public int HistoryCapacity { get; set; } = DefaultHistoryCapacity;

    /// <summary>
    /// Readings older than this (measured from the device's newest reading) are dropped, as DCGM's <c>maxKeepAge</c>;
    /// <see langword="null"/> (the default) keeps readings by count only. When set, more than 0.
    /// </summary>
    public TimeSpan? MaxSampleAge { get; set; }

    /// <summary>
    /// A reading older than this is stale: the device's health is <see cref="GpuHealth.Unknown"/> and the reading no
    /// longer counts as current. More than <see cref="PollInterval"/>; 5 s by default.
    /// </summary>
    public TimeSpan StalenessLimit { get; set; } = DefaultStalenessLimit;

    /// <summary>How long a health rule's value must stay below its leave threshold before the rule turns off; 0 or more, 30 s by default.</summary>
    public TimeSpan HealthHoldTime { get; set; } = DefaultHealthHoldTime;

    /// <summary>
    /// GPU temperature in °C that makes the device <see cref="GpuHealth.Degraded"/>; 85 / 80 by default,
    /// <see langword="null"/> turns the rule off. A rule's thresholds are finite, its enter threshold 0 or more and its
    /// leave threshold at most its enter threshold.
    /// </summary>
    public HealthThreshold? TemperatureDegradedC { get; set; } = DefaultTemperatureDegradedC;

    /// <summary>
    /// GPU temperature in °C that makes the device <see cref="GpuHealth.Unhealthy"/>; 95 / 90 by default,
    /// <see langword="null"/> turns the rule off. When both temperature rules are on, it enters at or above
    /// <see cref="TemperatureDegradedC"/>.
    /// </summary>
    public HealthThreshold? TemperatureUnhealthyC { get; set; } = DefaultTemperatureUnhealthyC;

    /// <summary>
    /// Power draw as a fraction of the enforced power limit that makes the device <see cref="GpuHealth.Degraded"/>;
    /// 0.98 / 0.90 by default, <see langword="null"/> turns the rule off.
    /// </summary>
    public HealthThreshold? PowerDegradedFraction { get; set; } = DefaultPowerDegradedFraction;

    /// <summary>
    /// Uncorrected (double-bit) ECC errors that make the device <see cref="GpuHealth.Unhealthy"/>; 1 / 1 by default
    /// (any error; the rule turns off once the volatile counter reads 0 again), <see langword="null"/> turns the rule off.
    /// </summary>
    public HealthThreshold? EccUncorrectedUnhealthy { get; set; } = DefaultEccUncorrectedUnhealthy;

    /// <summary>
    /// Whether a hardware slowdown (<see cref="GpuClockEventReasons.HardwareSlowdownMask"/>) makes the device
    /// <see cref="GpuHealth.Degraded"/>; on by default. It turns off after <see cref="HealthHoldTime"/> without one.
    /// </summary>
    public bool HardwareSlowdownDegrades { get; set; } = true;

    /// <summary>
    /// Consecutive failed readings that make the device <see cref="GpuHealth.Degraded"/>,
    /// <see cref="MinSamplingFailuresDegraded"/> (1) or more; 2 by default.
    /// </summary>
    public int SamplingFailuresDegraded { get; set; } = DefaultSamplingFailuresDegraded;

    /// <summary>
    /// Consecutive failed readings that make the device <see cref="GpuHealth.Unhealthy"/>, 1 or more and at least
    /// <see cref="SamplingFailuresDegraded"/>; 4 by default. The rules turn off once readings succeed again for
    /// <see cref="HealthHoldTime"/>.
    /// </summary>
    public int SamplingFailuresUnhealthy { get; set; } = DefaultSamplingFailuresUnhealthy;

    /// <summary>
    /// How long a critical Xid or a double-bit ECC event keeps the device <see cref="GpuHealth.Unhealthy"/>;
    /// <see langword="null"/> (the default) keeps it Unhealthy until the device is lost and discovered again (a reset or
    /// a replacement, as the Kubernetes device plugin treats such errors as sticky). When set, more than 0.
    /// </summary>
    public TimeSpan? CriticalEventHealthDuration { get; set; }

    /// <summary>How often the poller reads every device; more than 0 and at most <see cref="MaxPollInterval"/> (one hour), 1 s by default.</summary>
    public TimeSpan PollInterval { get; set; } = DefaultPollInterval;

    /// <summary>How long the poller waits for one device's reading before counting it as failed; more than 0, 2 s by default.</summary>
    public TimeSpan SampleTimeout { get; set; } = DefaultSampleTimeout;

    /// <summary>
    /// The longest the poller waits before reading a failing device again: after the n-th consecutive failure it waits
    /// <see cref="PollInterval"/> × 2^(n−1), at most this. At least <see cref="PollInterval"/>; 30 s by default.
    /// </summary>
    public TimeSpan MaxBackoff { get; set; } = DefaultMaxBackoff;
}
