using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>A device's health moved from one state to another.</summary>
/// <param name="Device">The device.</param>
/// <param name="Previous">The health before.</param>
/// <param name="Current">The health now.</param>
/// <param name="Reason">Why, in words (e.g. "temperature 93.5 °C >= 90 °C").</param>
/// <param name="Timestamp">When the change was judged.</param>
public sealed record GpuHealthChange(GpuDevice Device, GpuHealth Previous, GpuHealth Current, string Reason, DateTimeOffset Timestamp);
