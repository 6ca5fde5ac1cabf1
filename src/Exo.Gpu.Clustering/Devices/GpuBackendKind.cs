namespace Exo.Gpu.Clustering.Devices;

/// <summary>Which backend discovered a device.</summary>
public enum GpuBackendKind
{
    /// <summary>The built-in deterministic simulated cluster.</summary>
    Simulated = 0,

    /// <summary>A real NVIDIA device read through NVML and the CUDA driver API.</summary>
    Nvml = 1,
}
