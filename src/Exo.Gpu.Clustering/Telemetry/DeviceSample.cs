using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>A reading recorded for a device, as streamed by <see cref="TelemetryCollector.Subscribe"/>.</summary>
/// <param name="Device">The device.</param>
/// <param name="Sample">The reading.</param>
public readonly record struct DeviceSample(GpuDevice Device, GpuSample Sample);
