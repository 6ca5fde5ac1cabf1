namespace Exo.Gpu.Clustering.Backends;

/// <summary>Which backend <see cref="GpuBackendFactory.CreateAsync"/> makes.</summary>
public enum GpuBackendChoice
{
    /// <summary>NVML when it loads and reports at least one device, else the simulated cluster (and says why).</summary>
    Auto = 0,

    /// <summary>The NVML backend, strictly: a missing driver is an error.</summary>
    Nvml = 1,

    /// <summary>The simulated cluster.</summary>
    Simulated = 2,
}
