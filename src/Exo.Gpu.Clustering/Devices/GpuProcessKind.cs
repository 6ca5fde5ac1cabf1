namespace Exo.Gpu.Clustering.Devices;

/// <summary>How a process uses a GPU, as the driver lists it (NVML keeps a compute and a graphics list).</summary>
[Flags]
public enum GpuProcessKind
{
    /// <summary>Neither list (not reported by the backends).</summary>
    None = 0,

    /// <summary>A compute process (CUDA, OpenCL): <c>nvmlDeviceGetComputeRunningProcesses_v3</c>.</summary>
    Compute = 1,

    /// <summary>A graphics process (OpenGL, Vulkan, a display server): <c>nvmlDeviceGetGraphicsRunningProcesses_v3</c>.</summary>
    Graphics = 2,
}
