using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>Reads device states: live from the source, or from a snapshot (so an explanation's choice matches its verdicts).</summary>
internal interface IStateReader
{
    /// <summary>The state of the device at <paramref name="slot"/>.</summary>
    DeviceState Get(int slot);
}

/// <summary>The source's states now.</summary>
/// <param name="source">The source.</param>
internal readonly struct LiveStates(IDeviceStateSource source) : IStateReader
{
    /// <inheritdoc />
    public DeviceState Get(int slot) => source.GetState(slot);
}

/// <summary>States read once, earlier.</summary>
/// <param name="states">The states by slot.</param>
internal readonly struct SnapshotStates(DeviceState[] states) : IStateReader
{
    /// <inheritdoc />
    public DeviceState Get(int slot) => states[slot];
}
