using Orleans.Placement;

namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>Places a host grain only on the silo whose name is the grain's key (see <see cref="GpuHostPlacementDirector"/>).</summary>
[GenerateSerializer]
[Immutable]
[Alias("exo.gpu.host-placement")]
internal sealed class GpuHostPlacement : PlacementStrategy
{
    /// <summary>The one instance the attribute uses.</summary>
    public static GpuHostPlacement Instance { get; } = new();

    /// <summary>Host grains are found through the grain directory like any other grain.</summary>
    public override bool IsUsingGrainDirectory => true;
}

/// <summary>Marks a grain class as placed by <see cref="GpuHostPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
internal sealed class GpuHostPlacementAttribute : PlacementAttribute
{
    public GpuHostPlacementAttribute()
        : base(GpuHostPlacement.Instance)
    {
    }
}
