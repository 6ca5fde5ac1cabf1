using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// How the hand-written baselines read the collector: the clock once per scan, then each device's state at that
/// instant, through the seam the selector reads (<see cref="IDeviceStateSource"/>).
/// </summary>
internal static class CollectorStates
{
    public static long Now(TelemetryCollector collector) => ((IDeviceStateSource)collector).Now;

    public static DeviceState Get(TelemetryCollector collector, int slot, long now) => ((IDeviceStateSource)collector).GetState(slot, now);
}
