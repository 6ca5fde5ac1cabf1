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
/// </remarks>
public sealed class GpuScoreWeights
{
    private readonly double _freeMemory = 0.5;
    private readonly double _utilization = 0.3;
    private readonly double _temperature = 0.1;
    private readonly double _powerHeadroom = 0.1;

    /// <summary>The default weights: free memory 0.5, utilization 0.3, temperature 0.1, power headroom 0.1.</summary>
    public static GpuScoreWeights Default { get; } = new();

    /// <summary>The weight of free memory after reservations (default 0.5).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative, NaN or infinite value.</exception>
    public double FreeMemory
    {
        get => _freeMemory;
        init => _freeMemory = Check(value, nameof(FreeMemory));
    }

    /// <summary>The weight of idle compute (default 0.3).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative, NaN or infinite value.</exception>
    public double Utilization
    {
        get => _utilization;
        init => _utilization = Check(value, nameof(Utilization));
    }

    /// <summary>The weight of temperature headroom (default 0.1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative, NaN or infinite value.</exception>
    public double Temperature
    {
        get => _temperature;
        init => _temperature = Check(value, nameof(Temperature));
    }

    /// <summary>The weight of power headroom (default 0.1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative, NaN or infinite value.</exception>
    public double PowerHeadroom
    {
        get => _powerHeadroom;
        init => _powerHeadroom = Check(value, nameof(PowerHeadroom));
    }

    internal double Sum => _freeMemory + _utilization + _temperature + _powerHeadroom;

    private static double Check(double value, string name)
    {
        if (!double.IsFinite(value) || value < 0)
        {
            throw new ArgumentOutOfRangeException(name, value, "A weight must be a finite number of 0 or more.");
        }

        return value;
    }
}
