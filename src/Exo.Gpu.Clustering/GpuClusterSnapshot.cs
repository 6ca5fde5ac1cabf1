using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering;

/// <summary>
/// Every device of a host read once, from <see cref="GpuClusteringManager.ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>: the library's answer to
/// one <c>nvidia-smi</c> call. Immutable; nothing keeps running behind it.
/// </summary>
public sealed class GpuClusterSnapshot
{
    internal GpuClusterSnapshot(
        GpuBackendKind backendKind,
        string? backendFallbackReason,
        IReadOnlyList<GpuDeviceStatus> devices,
        IReadOnlyList<string?> failures,
        ClusterTelemetry cluster)
    {
        BackendKind = backendKind;
        BackendFallbackReason = backendFallbackReason;
        Devices = devices;
        Failures = failures;
        Cluster = cluster;
    }

    /// <summary>The kind of the first backend (the simulated cluster or NVML).</summary>
    public GpuBackendKind BackendKind { get; }

    /// <summary>Why the automatic backend choice fell back to the simulated cluster, or <see langword="null"/>.</summary>
    public string? BackendFallbackReason { get; }

    /// <summary>
    /// Every device discovered, in discovery order, with its reading and its health judged by the telemetry rules.
    /// A device whose reading failed is here too: <see cref="GpuHealth.Lost"/> when the backend says so, otherwise
    /// <see cref="GpuHealth.Unknown"/> with no reading (<see cref="Failures"/> says why).
    /// </summary>
    public IReadOnlyList<GpuDeviceStatus> Devices { get; }

    /// <summary>By position in <see cref="Devices"/>: why the device gave no reading (e.g. <c>no reading within 2000 ms</c>), or <see langword="null"/> when it was read.</summary>
    public IReadOnlyList<string?> Failures { get; }

    /// <summary>The aggregate of the devices read (memory, mean utilization and temperature, total power) and when the snapshot was taken.</summary>
    public ClusterTelemetry Cluster { get; }
}
