namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>
/// Settings of a <see cref="SimulatedGpuBackend"/>: plain settable properties of plain types, bindable from configuration
/// (<c>SimulatedOptions:DeviceCount</c>, <c>:Profile</c>, <c>:Seed</c>, <c>:Faults</c>) by the reflection binder and the
/// source-generated one alike; validated once, when the backend is created (every invalid value in one
/// <see cref="ArgumentException"/>). The clock is not an option: it is given to the backend's constructor (or to the
/// manager, in <see cref="GpuClusteringServices.TimeProvider"/>). Devices of custom specs are made with
/// <see cref="SimulatedGpuBackend(SimulatedClusterProfile, SimulatedFaultPlan, int, TimeProvider?)"/>.
/// </summary>
public sealed class SimulatedGpuBackendOptions
{
    /// <summary>The default of <see cref="Seed"/>: 1.</summary>
    public const int DefaultSeed = 1;

    /// <summary>The default of <see cref="DeviceCount"/>: 8.</summary>
    public const int DefaultDeviceCount = 8;

    /// <summary>The most devices a simulated cluster has (inclusive): 1,024.</summary>
    public const int MaxDeviceCount = 1024;

    /// <summary>How many devices to simulate, 1 to <see cref="MaxDeviceCount"/> (1,024); 8 by default (<see cref="DefaultDeviceCount"/>).</summary>
    public int DeviceCount { get; set; } = DefaultDeviceCount;

    /// <summary>Which devices: <see cref="SimulatedProfileKind.Homogeneous"/> (8 × H100 80 GB by default) or <see cref="SimulatedProfileKind.Heterogeneous"/>; a defined <see cref="SimulatedProfileKind"/>.</summary>
    public SimulatedProfileKind Profile { get; set; } = SimulatedProfileKind.Homogeneous;

    /// <summary>The seed of every random choice (any value; 1 by default, <see cref="DefaultSeed"/>); the same seed and clock give the same readings, bit for bit.</summary>
    public int Seed { get; set; } = DefaultSeed;

    /// <summary>
    /// Faults to inject, timed from the backend's creation, written as the CLI's <c>--faults</c> takes them
    /// (<see cref="SimulatedFaultPlan.Parse"/>: comma-separated <c>kind:device@start[+duration][#xid]</c>, e.g.
    /// <c>lost:2@30s+60s,hot:0@5s</c>); none when <see langword="null"/> (the default) or empty. Every fault names a device
    /// below <see cref="DeviceCount"/>.
    /// </summary>
    public string? Faults { get; set; }

    /// <summary>The profile these options describe (valid options only).</summary>
    /// <returns>The profile.</returns>
    internal SimulatedClusterProfile CreateProfile() => Profile == SimulatedProfileKind.Heterogeneous
        ? SimulatedClusterProfile.Heterogeneous(DeviceCount)
        : SimulatedClusterProfile.Homogeneous(DeviceCount);

    /// <summary>The fault plan these options describe (valid options only).</summary>
    /// <returns>The plan.</returns>
    internal SimulatedFaultPlan CreateFaultPlan() => string.IsNullOrWhiteSpace(Faults) ? SimulatedFaultPlan.None : SimulatedFaultPlan.Parse(Faults);
}
