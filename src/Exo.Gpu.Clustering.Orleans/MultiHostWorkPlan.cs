using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// Work split across hosts: one flat plan of the core's <see cref="WorkloadDistributor"/> over a host-major list of
/// usable devices, so each host's range is contiguous and the apportionment's quota property holds per device.
/// Immutable; <see cref="Rebalance"/> makes a new plan.
/// </summary>
public sealed class MultiHostWorkPlan
{
    /// <summary>The weights the plan was made with, one per device (kept for rebalancing).</summary>
    private readonly double[] _weights;

    internal MultiHostWorkPlan(IReadOnlyList<ClusterDeviceRef> devices, double[] weights, DistributionPlan plan)
    {
        Devices = devices;
        _weights = weights;
        Plan = plan;
    }

    /// <summary>The devices, host by host (hosts by id, devices by index); positions are the plan's device numbers.</summary>
    public IReadOnlyList<ClusterDeviceRef> Devices { get; }

    /// <summary>The flat plan: counts and ranges per device position.</summary>
    public DistributionPlan Plan { get; }

    /// <summary>The hosts of the plan, in order.</summary>
    public IReadOnlyList<GpuHostIdentity> Hosts => [.. Devices.Select(d => d.Host).Distinct()];

    /// <summary>The items a host holds: the ranges of its devices.</summary>
    /// <param name="host">The host.</param>
    /// <returns>The ranges (device numbers are positions in <see cref="Devices"/>); empty for a host not in the plan.</returns>
    public IReadOnlyList<ItemRange> GetHostRanges(GpuHostIdentity host) =>
        [.. Enumerable.Range(0, Devices.Count).Where(i => Devices[i].Host == host).SelectMany(Plan.GetRanges)];

    /// <summary>The number of items a host holds.</summary>
    /// <param name="host">The host.</param>
    /// <returns>The sum over its devices.</returns>
    public long GetHostCount(GpuHostIdentity host) => Enumerable.Range(0, Devices.Count).Where(i => Devices[i].Host == host).Sum(i => Plan.Counts[i]);

    /// <summary>
    /// Takes a lost host out of the plan: its items, and only its items, move to the other hosts' devices (by the
    /// plan's weights and method); every other item stays where it was.
    /// </summary>
    /// <param name="lost">The lost host.</param>
    /// <returns>The new plan (this one is not changed).</returns>
    /// <exception cref="ArgumentException"><paramref name="lost"/> is not a host of the plan, or no other host has a device with a positive weight.</exception>
    public MultiHostWorkPlan Rebalance(GpuHostIdentity lost)
    {
        var positions = Enumerable.Range(0, Devices.Count).Where(i => Devices[i].Host == lost).ToList();
        if (positions.Count == 0)
        {
            throw new ArgumentException($"Host {lost} is not in the plan.", nameof(lost));
        }

        var weights = (double[])_weights.Clone();
        foreach (var i in positions)
        {
            weights[i] = 0; // the lost host's other devices receive nothing either
        }

        if (!weights.Any(w => w > 0))
        {
            throw new ArgumentException($"No host but {lost} has a device to take its items.", nameof(lost));
        }

        var plan = Plan;
        foreach (var i in positions)
        {
            plan = WorkloadDistributor.Rebalance(plan, i, weights);
        }

        return new MultiHostWorkPlan(Devices, weights, plan);
    }

    /// <summary>Formats as <c>n items over d devices on h hosts</c>.</summary>
    public override string ToString() => $"{Plan.TotalItems} items over {Devices.Count} devices on {Hosts.Count} hosts";
}
