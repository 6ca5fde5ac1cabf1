using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>Reads device states: live from the source, or from a snapshot (so an explanation's choice matches its verdicts).</summary>
internal interface IStateReader
{
    /// <summary>The state of the device at <paramref name="slot"/>.</summary>
    DeviceState Get(int slot);
}

/// <summary>The source's states at one instant, read from the source's clock once, when the reader is made (once per scan).</summary>
internal readonly struct LiveStates : IStateReader
{
    /// <summary>The source.</summary>
    private readonly IDeviceStateSource _source;

    /// <summary>The instant of the scan, in the source's time base.</summary>
    private readonly long _now;

    /// <summary>Reads the source's clock now; every state is then judged at that instant.</summary>
    /// <param name="source">The source.</param>
    public LiveStates(IDeviceStateSource source)
    {
        _source = source;
        _now = source.Now;
    }

    /// <inheritdoc />
    public DeviceState Get(int slot) => _source.GetState(slot, _now);
}

/// <summary>States read once, earlier.</summary>
/// <param name="states">The states by slot.</param>
internal readonly struct SnapshotStates(DeviceState[] states) : IStateReader
{
    /// <inheritdoc />
    public DeviceState Get(int slot) => states[slot];
}
