using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// What the scheduler reads about devices: the seam between the telemetry collector (which implements it) and the
/// device selector and leases (which consume it). Reads are cheap, lock-free where possible and never allocate.
/// </summary>
internal interface IDeviceStateSource
{
    /// <summary>
    /// Incremented whenever the device set changes (a device added, lost or rejoined), so consumers can refresh any
    /// per-device arrays they keep.
    /// </summary>
    int Version { get; }

    /// <summary>Every device known, lost ones included, in a stable order; the position is the device's slot.</summary>
    IReadOnlyList<GpuDevice> Devices { get; }

    /// <summary>
    /// Now, in the source's own time base: an opaque value to pass to <see cref="GetState(int, long)"/>, so a caller
    /// judging many devices reads the clock once per scan. Only the source interprets it.
    /// </summary>
    long Now { get; }

    /// <summary>The state of the device at <paramref name="slot"/> now.</summary>
    /// <param name="slot">A position in <see cref="Devices"/>.</param>
    DeviceState GetState(int slot);

    /// <summary>The state of the device at <paramref name="slot"/> at <paramref name="now"/>.</summary>
    /// <param name="slot">A position in <see cref="Devices"/>.</param>
    /// <param name="now">A value of <see cref="Now"/> (read once for a whole scan).</param>
    DeviceState GetState(int slot, long now);

    /// <summary>Raised after a device's health changes (including to and from Lost). Handlers must be fast and must not throw.</summary>
    event Action<GpuHealthChange>? HealthChanged;
}
