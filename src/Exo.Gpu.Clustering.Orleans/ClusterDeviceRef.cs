namespace Exo.Gpu.Clustering.Orleans;

/// <summary>One device of the cluster: its host (and generation) and its UUID.</summary>
/// <param name="Host">The device's host.</param>
/// <param name="Uuid">The device's UUID.</param>
public readonly record struct ClusterDeviceRef(GpuHostIdentity Host, string Uuid)
{
    /// <summary>Formats as <c>host@generation/uuid</c>.</summary>
    public override string ToString() => $"{Host}/{Uuid}";
}
