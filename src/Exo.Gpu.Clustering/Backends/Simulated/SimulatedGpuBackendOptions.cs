namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>Settings of a <see cref="SimulatedGpuBackend"/>.</summary>
public sealed class SimulatedGpuBackendOptions
{
    /// <summary>The devices to simulate; <see cref="SimulatedClusterProfile.Homogeneous"/> (8 × 80 GB) by default.</summary>
    public SimulatedClusterProfile Profile { get; set; } = SimulatedClusterProfile.Homogeneous();

    /// <summary>The seed of every random choice; the same seed and clock give the same readings, bit for bit.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>The clock; <see cref="TimeProvider.System"/> by default. Tests pass a fake one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Faults to inject, timed from the backend's creation; none by default.</summary>
    public SimulatedFaultPlan FaultPlan { get; set; } = SimulatedFaultPlan.None;
}
