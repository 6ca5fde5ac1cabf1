using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>A consistent copy of a slot's state.</summary>
internal readonly record struct SlotSnapshot(
    bool Lost,
    bool HasSample,
    GpuSample Latest,
    GpuHealth SampleLevel,
    GpuHealth FailureLevel,
    int ConsecutiveFailures,
    long CriticalEventUntil)
{
    /// <summary>Whether <see cref="Latest"/> is fresh at <paramref name="nowUtcTicks"/> (never for a lost device).</summary>
    public bool IsFresh(long nowUtcTicks, long stalenessTicks) =>
        !Lost && HasSample && DeviceSlot.IsFresh(Latest.TimestampUtcTicks, nowUtcTicks, stalenessTicks);

    /// <summary>The health at <paramref name="nowUtcTicks"/>.</summary>
    public GpuHealth Health(long nowUtcTicks, long stalenessTicks) => DeviceSlot.Judge(
        Lost,
        CriticalEventUntil != 0 && nowUtcTicks < CriticalEventUntil,
        FailureLevel,
        IsFresh(nowUtcTicks, stalenessTicks),
        SampleLevel);
}
