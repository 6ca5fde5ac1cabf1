using System.Globalization;
using System.Text;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The components of a device's <see cref="GpuSelectionStrategy.BestScore"/> score, each in [0, 1] (1 is best), and
/// their weighted mean. A component the device does not report is <see langword="null"/> and left out of the mean.
/// </summary>
/// <param name="Total">The weighted mean of the known components.</param>
/// <param name="FreeMemory">Free bytes after reservations over the largest capacity in the cluster.</param>
/// <param name="Utilization"><c>1 − utilization / 100</c>.</param>
/// <param name="Temperature">Temperature headroom below the hot limit.</param>
/// <param name="PowerHeadroom"><c>1 − power / power limit</c>.</param>
public readonly record struct GpuScoreBreakdown(double Total, double FreeMemory, double? Utilization, double? Temperature, double? PowerHeadroom)
{
    /// <summary>Formats as <c>0.812 (free 0.95, util 0.60, temp 0.70, power 0.55)</c>.</summary>
    public override string ToString()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"{Total:0.000} (free {FreeMemory:0.00}");
        Append(b, "util", Utilization);
        Append(b, "temp", Temperature);
        Append(b, "power", PowerHeadroom);
        return b.Append(')').ToString();
    }

    private static void Append(StringBuilder b, string name, double? value) =>
        b.Append(CultureInfo.InvariantCulture, $", {name} {(value is double v ? v.ToString("0.00", CultureInfo.InvariantCulture) : "n/a")}");
}
