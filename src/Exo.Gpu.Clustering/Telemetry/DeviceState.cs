using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>A device's state for scheduling.</summary>
/// <param name="Health">The judged health (Unknown when the latest reading is stale or missing).</param>
/// <param name="HasFreshSample">Whether <paramref name="Sample"/> is a reading younger than the staleness limit.</param>
/// <param name="Sample">The latest reading when <paramref name="HasFreshSample"/>; otherwise default.</param>
/// <param name="SampleAge">The age of the latest reading (<see cref="TimeSpan.MaxValue"/> when there is none).</param>
internal readonly record struct DeviceState(GpuHealth Health, bool HasFreshSample, GpuSample Sample, TimeSpan SampleAge);
