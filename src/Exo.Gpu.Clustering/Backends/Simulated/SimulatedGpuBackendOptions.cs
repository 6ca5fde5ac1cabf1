namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>
/// Settings of a <see cref="SimulatedGpuBackend"/>: plain settable properties, validated once, when the backend is
/// created (every invalid value in one <see cref="ArgumentException"/>). The clock is not an option: it is given to the
/// backend's constructor (or to the manager, in <see cref="GpuClusteringServices.TimeProvider"/>).
/// </summary>
public sealed class SimulatedGpuBackendOptions
{
    /// <summary>The default of <see cref="Seed"/>: 1.</summary>
    public const int DefaultSeed = 1;

    /// <summary>The devices to simulate; <see cref="SimulatedClusterProfile.Homogeneous"/> (8 × 80 GB) by default, not <see langword="null"/>.</summary>
    public SimulatedClusterProfile Profile { get; set; } = SimulatedClusterProfile.Homogeneous();

    /// <summary>The seed of every random choice (any value; 1 by default, <see cref="DefaultSeed"/>); the same seed and clock give the same readings, bit for bit.</summary>
    public int Seed { get; set; } = DefaultSeed;

    /// <summary>Faults to inject, timed from the backend's creation; none by default, not <see langword="null"/>. Every fault names a device of <see cref="Profile"/>.</summary>
    public SimulatedFaultPlan FaultPlan { get; set; } = SimulatedFaultPlan.None;
}
