using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering;

/// <summary>The devices a manager's distribution used and the plan over them.</summary>
/// <param name="Devices">The usable devices, in the order of the plan's counts.</param>
/// <param name="Plan">The plan; <c>Plan.Counts[i]</c> items go to <c>Devices[i]</c>.</param>
public sealed record ClusterWorkPlan(IReadOnlyList<GpuDevice> Devices, DistributionPlan Plan);
