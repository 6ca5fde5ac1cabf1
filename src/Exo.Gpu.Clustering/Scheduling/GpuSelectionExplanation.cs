using System.Globalization;
using System.Text;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>Why a <see cref="DeviceSelector"/> would choose what it chooses for a request: a verdict for every device.</summary>
public sealed class GpuSelectionExplanation
{
    internal GpuSelectionExplanation(GpuRequest request, GpuSelectionStrategy strategy, IReadOnlyList<GpuDeviceVerdict> devices, IReadOnlyList<GpuDevice> chosen, GpuDeviceVerdict? nearest)
    {
        Request = request;
        Strategy = strategy;
        Devices = devices;
        Chosen = chosen;
        Nearest = nearest;
    }

    /// <summary>The request explained.</summary>
    public GpuRequest Request { get; }

    /// <summary>The strategy used.</summary>
    public GpuSelectionStrategy Strategy { get; }

    /// <summary>Every device, by slot.</summary>
    public IReadOnlyList<GpuDeviceVerdict> Devices { get; }

    /// <summary>The devices the selector chooses now (as many as the request asks for), or empty when the request does not fit.</summary>
    public IReadOnlyList<GpuDevice> Chosen { get; }

    /// <summary>When the request does not fit: the rejected device closest to qualifying (fewest reasons, then smallest memory shortfall); otherwise <see langword="null"/>.</summary>
    public GpuDeviceVerdict? Nearest { get; }

    /// <summary>Whether the request fits now.</summary>
    public bool Fits => Chosen.Count > 0;

    /// <summary>One line per device, then the choice.</summary>
    public override string ToString()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"request: {Request}; strategy {Strategy}").AppendLine();
        foreach (var d in Devices)
        {
            b.Append("  ").Append(d).AppendLine();
        }

        b.Append(Fits ? "chosen: " + string.Join(", ", Chosen.Select(c => c.Index.ToString(CultureInfo.InvariantCulture))) : "nothing fits");
        return b.ToString();
    }
}
