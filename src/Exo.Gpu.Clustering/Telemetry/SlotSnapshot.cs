using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>A consistent copy of a slot's state.</summary>
internal readonly record struct SlotSnapshot(
    bool Lost,
    bool HasSample,
    GpuSample Latest,
    long LatestReceived,
    GpuHealth SampleLevel,
    GpuHealth FailureLevel,
    int ConsecutiveFailures,
    long CriticalEventUntil)
{
    /// <summary>Whether <see cref="Latest"/> is fresh at <paramref name="now"/> (monotonic ticks; never for a lost device).</summary>
    public bool IsFresh(long now, long stalenessTicks) =>
        !Lost && HasSample && DeviceSlot.IsFresh(LatestReceived, now, stalenessTicks);

    /// <summary>The health at <paramref name="now"/> (monotonic ticks).</summary>
    public GpuHealth Health(long now, long stalenessTicks) => DeviceSlot.Judge(
        Lost,
        CriticalEventUntil != 0 && now < CriticalEventUntil,
        FailureLevel,
        IsFresh(now, stalenessTicks),
        SampleLevel);
}
