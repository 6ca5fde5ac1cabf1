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

    /// <summary>The state of the device at <paramref name="slot"/> now.</summary>
    /// <param name="slot">A position in <see cref="Devices"/>.</param>
    DeviceState GetState(int slot);

    /// <summary>Raised after a device's health changes (including to and from Lost). Handlers must be fast and must not throw.</summary>
    event Action<GpuHealthChange>? HealthChanged;
}

/// <summary>A device's state for scheduling.</summary>
/// <param name="Health">The judged health (Unknown when the latest reading is stale or missing).</param>
/// <param name="HasFreshSample">Whether <paramref name="Sample"/> is a reading younger than the staleness limit.</param>
/// <param name="Sample">The latest reading when <paramref name="HasFreshSample"/>; otherwise default.</param>
/// <param name="SampleAge">The age of the latest reading (<see cref="TimeSpan.MaxValue"/> when there is none).</param>
internal readonly record struct DeviceState(GpuHealth Health, bool HasFreshSample, GpuSample Sample, TimeSpan SampleAge);
