using Orleans.Runtime.Placement;

namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>
/// Places the host grain keyed <c>h</c> on the Active silo named <c>h</c> (within the silos compatible with the grain),
/// and refuses to place it anywhere else: a host grain never fronts another host's GPUs. When two Active silos
/// briefly share a name (the second is being refused at its start), the older generation keeps the host.
/// </summary>
internal sealed class GpuHostPlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var hostId = target.GrainIdentity.Key.ToString();
        var compatible = context.GetCompatibleSilos(target);
        SiloAddress? chosen = null;
        foreach (var member in membership.CurrentSnapshot.Members.Values)
        {
            if (member.Status == SiloStatus.Active
                && string.Equals(member.Name, hostId, StringComparison.Ordinal)
                && Array.IndexOf(compatible, member.SiloAddress) >= 0
                && (chosen is null || member.SiloAddress.Generation < chosen.Generation))
            {
                chosen = member.SiloAddress;
            }
        }

        return chosen is not null
            ? Task.FromResult(chosen)
            : throw new OrleansException($"No active silo is GPU host '{hostId}': the host grain is placed only on the silo named for its host id (is the host down, or not started with AddGpuHost?).");
    }
}
