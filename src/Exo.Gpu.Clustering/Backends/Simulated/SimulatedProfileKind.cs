namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>The shape of a simulated cluster made from <see cref="SimulatedGpuBackendOptions"/> (bindable by name, case-insensitive).</summary>
public enum SimulatedProfileKind
{
    /// <summary>Identical H100 SXM 80 GB devices (<see cref="SimulatedClusterProfile.Homogeneous"/>).</summary>
    Homogeneous = 0,

    /// <summary>H100 80 GB, A100 40 GB, L40S 48 GB and T4 16 GB, repeated in that order (<see cref="SimulatedClusterProfile.Heterogeneous"/>).</summary>
    Heterogeneous = 1,
}
