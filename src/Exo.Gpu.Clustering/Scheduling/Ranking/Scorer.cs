using System.Runtime.CompilerServices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The <see cref="GpuSelectionStrategy.BestScore"/> score (see <see cref="GpuScoreWeights"/>): the weighted mean of
/// the components a device reports. <see cref="Total"/> ranks (hot path) and <see cref="Breakdown"/> explains, from the
/// same component formulas. Immutable.
/// </summary>
internal sealed class Scorer
{
    /// <summary>The weight of free memory after reservations.</summary>
    private readonly double _wFree;

    /// <summary>The weight of idle compute.</summary>
    private readonly double _wUtil;

    /// <summary>The weight of temperature headroom.</summary>
    private readonly double _wTemp;

    /// <summary>The weight of power headroom.</summary>
    private readonly double _wPower;

    /// <summary>The hot limit in °C: the temperature component is 0 there.</summary>
    private readonly double _hot;

    /// <summary>1 / (hot limit − 25 °C): the temperature component's scale.</summary>
    private readonly double _inverseTemperatureSpan;

    /// <summary>1 / (sum of the weights of the components present), indexed by a mask: 1 utilization, 2 temperature, 4 power.</summary>
    private readonly double[] _inverseWeights;

    public Scorer(GpuScoreWeights weights, double hotTemperatureC)
    {
        _wFree = weights.FreeMemory;
        _wUtil = weights.Utilization;
        _wTemp = weights.Temperature;
        _wPower = weights.PowerHeadroom;
        _hot = hotTemperatureC;
        _inverseTemperatureSpan = 1 / (_hot - 25);
        _inverseWeights = InverseWeights(_wFree, _wUtil, _wTemp, _wPower);
    }

    /// <summary>The score of a device with a fresh reading and <paramref name="available"/> bytes free after reservations.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double Total(Reading reading, long available, SlotTable table)
    {
        // Only the components the device reports count; the divisions are precomputed reciprocals except the power
        // ratio (this runs once per device per selection).
        var sum = _wFree * FreeComponent(available, table);
        var present = 0;
        if (reading.HasUtilization)
        {
            sum += _wUtil * UtilizationComponent(reading.Utilization);
            present |= 1;
        }

        if (reading.HasTemperature)
        {
            sum += _wTemp * TemperatureComponent(reading.Temperature);
            present |= 2;
        }

        if (reading.HasPowerHeadroom)
        {
            sum += _wPower * PowerComponent(reading.Power, reading.PowerLimit);
            present |= 4;
        }

        return sum * _inverseWeights[present];
    }

    /// <summary>The score and its components (for explanations), from the same formulas as <see cref="Total"/>.</summary>
    public GpuScoreBreakdown Breakdown(in Reading reading, long available, SlotTable table) => new(
        Total(reading, available, table),
        FreeComponent(available, table),
        reading.HasUtilization ? UtilizationComponent(reading.Utilization) : null,
        reading.HasTemperature ? TemperatureComponent(reading.Temperature) : null,
        reading.HasPowerHeadroom ? PowerComponent(reading.Power, reading.PowerLimit) : null);

    private static double[] InverseWeights(double free, double utilization, double temperature, double power)
    {
        var inverse = new double[8];
        for (var mask = 0; mask < 8; mask++)
        {
            var sum = free + ((mask & 1) != 0 ? utilization : 0) + ((mask & 2) != 0 ? temperature : 0) + ((mask & 4) != 0 ? power : 0);
            inverse[mask] = sum > 0 ? 1 / sum : 0;
        }

        return inverse;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Clamp01(double value) => value < 0 ? 0 : value > 1 ? 1 : value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double FreeComponent(long available, SlotTable table) => Clamp01(available * table.InverseMaxCapacity);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double UtilizationComponent(double utilization) => Clamp01(1 - (utilization * 0.01));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double TemperatureComponent(double temperature) => Clamp01((_hot - temperature) * _inverseTemperatureSpan);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double PowerComponent(double power, double limit) => Clamp01(1 - (power / limit));
}
