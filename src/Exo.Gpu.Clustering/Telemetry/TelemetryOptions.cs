using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// Settings of a <see cref="TelemetryCollector"/> and of the poller that feeds it. Validated once, when the collector
/// is created; later changes to this object do not affect a collector already created.
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>How many readings each device keeps, 1 to 1,048,576; 600 (ten minutes at one per second) by default.</summary>
    public int HistoryCapacity { get; set; } = 600;

    /// <summary>
    /// Readings older than this (measured from the device's newest reading) are dropped, as DCGM's <c>maxKeepAge</c>;
    /// <see langword="null"/> (the default) keeps readings by count only. When set, more than 0.
    /// </summary>
    public TimeSpan? MaxSampleAge { get; set; }

    /// <summary>
    /// A reading older than this is stale: the device's health is <see cref="GpuHealth.Unknown"/> and the reading no
    /// longer counts as current. More than <see cref="PollInterval"/>; 5 s by default.
    /// </summary>
    public TimeSpan StalenessLimit { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a health rule's value must stay below its leave threshold before the rule turns off; 0 or more, 30 s by default.</summary>
    public TimeSpan HealthHoldTime { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>GPU temperature in °C that makes the device <see cref="GpuHealth.Degraded"/>; 85 / 80 by default, <see langword="null"/> turns the rule off.</summary>
    public HealthThreshold? TemperatureDegradedC { get; set; } = new(85, 80);

    /// <summary>GPU temperature in °C that makes the device <see cref="GpuHealth.Unhealthy"/>; 95 / 90 by default, <see langword="null"/> turns the rule off.</summary>
    public HealthThreshold? TemperatureUnhealthyC { get; set; } = new(95, 90);

    /// <summary>
    /// Power draw as a fraction of the enforced power limit that makes the device <see cref="GpuHealth.Degraded"/>;
    /// 0.98 / 0.90 by default, <see langword="null"/> turns the rule off.
    /// </summary>
    public HealthThreshold? PowerDegradedFraction { get; set; } = new(0.98, 0.90);

    /// <summary>
    /// Uncorrected (double-bit) ECC errors that make the device <see cref="GpuHealth.Unhealthy"/>; 1 / 1 by default
    /// (any error; the rule turns off once the volatile counter reads 0 again), <see langword="null"/> turns the rule off.
    /// </summary>
    public HealthThreshold? EccUncorrectedUnhealthy { get; set; } = new(1, 1);

    /// <summary>
    /// Whether a hardware slowdown (<see cref="GpuClockEventReasons.HardwareSlowdownMask"/>) makes the device
    /// <see cref="GpuHealth.Degraded"/>; on by default. It turns off after <see cref="HealthHoldTime"/> without one.
    /// </summary>
    public bool HardwareSlowdownDegrades { get; set; } = true;

    /// <summary>Consecutive failed readings that make the device <see cref="GpuHealth.Degraded"/>, 1 or more; 2 by default.</summary>
    public int SamplingFailuresDegraded { get; set; } = 2;

    /// <summary>
    /// Consecutive failed readings that make the device <see cref="GpuHealth.Unhealthy"/>, at least
    /// <see cref="SamplingFailuresDegraded"/>; 4 by default. The rules turn off once readings succeed again for
    /// <see cref="HealthHoldTime"/>.
    /// </summary>
    public int SamplingFailuresUnhealthy { get; set; } = 4;

    /// <summary>
    /// How long a critical Xid or a double-bit ECC event keeps the device <see cref="GpuHealth.Unhealthy"/>;
    /// <see langword="null"/> (the default) keeps it Unhealthy until the device is lost and discovered again (a reset or
    /// a replacement, as the Kubernetes device plugin treats such errors as sticky). When set, more than 0.
    /// </summary>
    public TimeSpan? CriticalEventHealthDuration { get; set; }

    /// <summary>How often the poller reads every device; more than 0 and at most one hour, 1 s by default.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the poller waits for one device's reading before counting it as failed; more than 0, 2 s by default.</summary>
    public TimeSpan SampleTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The longest the poller waits before reading a failing device again: after the n-th consecutive failure it waits
    /// <see cref="PollInterval"/> × 2^(n−1), at most this. At least <see cref="PollInterval"/>; 30 s by default.
    /// </summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);
}
