namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The weights of the <see cref="GpuSelectionStrategy.BestScore"/> score. Each component is in [0, 1] (1 is best); the
/// score is their weighted mean over the components the device reports, so it is in [0, 1] too.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><b>Free memory</b>: free bytes after reservations divided by the largest device capacity in the cluster, so
/// a device with more free bytes scores higher whatever its size.</item>
/// <item><b>Utilization</b>: <c>1 − utilization / 100</c>.</item>
/// <item><b>Temperature</b>: <c>(hot limit − T) / (hot limit − 25 °C)</c>, clamped: 1 at room temperature, 0 at the hot limit.</item>
/// <item><b>Power headroom</b>: <c>1 − power / power limit</c>, clamped.</item>
/// </list>
/// Weights only rank devices that are already eligible: a hot, unhealthy or stale device is excluded, never just
/// scored lower.
/// <para>
/// Options, not a value: plain settable properties, bindable from configuration as
/// <see cref="DeviceSelectorOptions.Weights"/>. Each weight must be 0, or from <see cref="MinPositiveWeight"/> (1e-300)
/// to <see cref="MaxWeight"/> (1e300), and not all may be 0; the
/// selector checks them once, when it is created, and copies them.
/// </para>
/// </remarks>
public sealed class GpuScoreWeights
{
    /// <summary>The default of <see cref="FreeMemory"/>: 0.5.</summary>
    public const double DefaultFreeMemory = 0.5;

    /// <summary>The default of <see cref="Utilization"/>: 0.3.</summary>
    public const double DefaultUtilization = 0.3;

    /// <summary>The default of <see cref="Temperature"/>: 0.1.</summary>
    public const double DefaultTemperature = 0.1;

    /// <summary>The default of <see cref="PowerHeadroom"/>: 0.1.</summary>
    public const double DefaultPowerHeadroom = 0.1;

    /// <summary>The least weight: 0 (inclusive); a weight must also be finite.</summary>
    public const double MinWeight = 0;

    /// <summary>
    /// The least positive weight: 1e-300 (inclusive). Only the ratios of the weights matter; below this the reciprocal
    /// of a sum of weights would overflow to infinity.
    /// </summary>
    public const double MinPositiveWeight = 1e-300;

    /// <summary>
    /// The largest weight: 1e300 (inclusive). Only the ratios of the weights matter; above this the sum of the four
    /// weights could overflow to infinity and make every score NaN.
    /// </summary>
    public const double MaxWeight = 1e300;

    /// <summary>
    /// The default weights: free memory 0.5, utilization 0.3, temperature 0.1, power headroom 0.1. A new object on every
    /// read, so changing it changes no one else's weights.
    /// </summary>
    public static GpuScoreWeights Default => new();

    /// <summary>The weight of free memory after reservations; 0.5 by default (<see cref="DefaultFreeMemory"/>).</summary>
    public double FreeMemory { get; set; } = DefaultFreeMemory;

    /// <summary>The weight of idle compute; 0.3 by default (<see cref="DefaultUtilization"/>).</summary>
    public double Utilization { get; set; } = DefaultUtilization;

    /// <summary>The weight of temperature headroom; 0.1 by default (<see cref="DefaultTemperature"/>).</summary>
    public double Temperature { get; set; } = DefaultTemperature;

    /// <summary>The weight of power headroom; 0.1 by default (<see cref="DefaultPowerHeadroom"/>).</summary>
    public double PowerHeadroom { get; set; } = DefaultPowerHeadroom;
}
