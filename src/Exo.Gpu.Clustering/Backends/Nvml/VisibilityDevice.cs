using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>What the visibility rules need to know of one NVML device.</summary>
/// <param name="NvmlIndex">The NVML index.</param>
/// <param name="Uuid">The UUID, <c>GPU-…</c>.</param>
/// <param name="PciBusId">The normalized PCI bus id (<see cref="PciBusIds.Normalize"/>), or <see langword="null"/>.</param>
/// <param name="ComputeCapability">The compute capability, or <see langword="null"/>.</param>
/// <param name="MultiprocessorCount">The SM count, or <see langword="null"/>.</param>
internal sealed record VisibilityDevice(int NvmlIndex, string Uuid, string? PciBusId, ComputeCapability? ComputeCapability, int? MultiprocessorCount)
{
    /// <summary>For a MIG-enabled GPU, the UUIDs (<c>MIG-…</c>) of the MIG devices CUDA lists on it; empty otherwise.</summary>
    public IReadOnlyList<string> MigUuids { get; init; } = [];
}
