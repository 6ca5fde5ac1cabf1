using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends;

/// <summary>A backend made by <see cref="GpuBackendFactory.CreateAsync"/> and how it was chosen.</summary>
public sealed class GpuBackendSelection
{
    internal GpuBackendSelection(IGpuBackend backend, string? fallbackReason)
    {
        Backend = backend;
        FallbackReason = fallbackReason;
    }

    /// <summary>The backend; the caller owns and disposes it.</summary>
    public IGpuBackend Backend { get; }

    /// <summary>The kind of <see cref="Backend"/>.</summary>
    public GpuBackendKind Kind => Backend.Kind;

    /// <summary>
    /// Why <see cref="GpuBackendChoice.Auto"/> fell back to the simulated cluster (e.g. the searched NVML paths), or
    /// <see langword="null"/> when the backend is the one asked for.
    /// </summary>
    public string? FallbackReason { get; }
}
