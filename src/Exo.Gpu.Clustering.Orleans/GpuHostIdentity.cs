namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// Who a host is: its host id (its silo's name) and its generation (its silo's generation, new at every start), so a
/// restarted host is never mistaken for the one that was lost.
/// </summary>
/// <param name="HostId">The host id: the name of the host's silo.</param>
/// <param name="Generation">The generation of the host's silo.</param>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.host-identity")]
public readonly record struct GpuHostIdentity([property: Id(0)] string HostId, [property: Id(1)] long Generation)
{
    /// <summary>Formats as <c>host@generation</c>.</summary>
    public override string ToString() => $"{HostId}@{Generation}";
}
