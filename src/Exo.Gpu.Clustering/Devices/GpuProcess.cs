namespace Exo.Gpu.Clustering.Devices;

/// <summary>A process using a GPU now, from <see cref="Backends.IGpuBackend.GetProcessesAsync"/>.</summary>
/// <param name="ProcessId">The process id, in the host's process namespace (a process in another PID namespace, e.g. another container, shows its host pid).</param>
/// <param name="Kind">Whether the driver lists it as a compute process, a graphics process, or both.</param>
/// <param name="UsedMemoryBytes">The GPU memory it holds on this device, or <see langword="null"/> when the driver cannot say (NVML's "not available", e.g. under WDDM or without permission).</param>
public sealed record GpuProcess(int ProcessId, GpuProcessKind Kind, long? UsedMemoryBytes)
{
    /// <summary>The process name (<c>/proc/&lt;pid&gt;/comm</c> on Linux), or <see langword="null"/> when it cannot be read (it ended, or belongs to another PID namespace).</summary>
    public string? Name { get; init; }

    /// <summary>The user the process runs as (its real uid's name from <c>/etc/passwd</c>, else the uid), or <see langword="null"/> when unknown.</summary>
    public string? User { get; init; }
}
