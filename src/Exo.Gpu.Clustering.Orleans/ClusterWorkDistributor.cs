using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Distribution;

namespace Exo.Gpu.Clustering.Orleans;

/// <summary>Splits work across the hosts of a directory view (pure: no clock, no calls).</summary>
public static class ClusterWorkDistributor
{
    /// <summary>
    /// Plans <paramref name="items"/> over every healthy device of <paramref name="hosts"/>, host-major (hosts by id,
    /// devices by index), with the core's <see cref="WorkloadDistributor"/>.
    /// </summary>
    /// <param name="items">The number of items (0 or more).</param>
    /// <param name="hosts">The hosts' reports (a view's <see cref="ClusterGpuView.Hosts"/>).</param>
    /// <param name="source">How devices are weighted: <see cref="DeviceWeightSource.Uniform"/> (the default), <see cref="DeviceWeightSource.TotalMemory"/> or <see cref="DeviceWeightSource.FreeMemory"/> (free after reservations).</param>
    /// <param name="method">The apportionment method (Hamilton by default: each device within one item of its quota).</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="hosts"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="items"/> is negative or above <see cref="WorkloadDistributor.MaxItems"/>.</exception>
    /// <exception cref="ArgumentException">No host has a healthy device, every weight is 0, or <paramref name="source"/> is <see cref="DeviceWeightSource.Compute"/> (reports carry no compute figures).</exception>
    public static MultiHostWorkPlan Plan(long items, IReadOnlyList<GpuHostReport> hosts, DeviceWeightSource source = DeviceWeightSource.Uniform, ApportionmentMethod method = ApportionmentMethod.Hamilton)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        if (source is not (DeviceWeightSource.Uniform or DeviceWeightSource.TotalMemory or DeviceWeightSource.FreeMemory))
        {
            throw new ArgumentException($"Weights from {source} are not available from host reports; use Uniform, TotalMemory or FreeMemory.", nameof(source));
        }

        var devices = new List<ClusterDeviceRef>();
        var weights = new List<double>();
        foreach (var host in hosts.OrderBy(h => h.Host.HostId, StringComparer.Ordinal))
        {
            foreach (var device in host.Devices.Where(d => d.Health == GpuHealth.Healthy).OrderBy(d => d.Index))
            {
                devices.Add(new ClusterDeviceRef(host.Host, device.Uuid));
                weights.Add(source switch
                {
                    DeviceWeightSource.TotalMemory => device.TotalMemoryBytes,
                    DeviceWeightSource.FreeMemory => device.FreeBytes,
                    _ => 1,
                });
            }
        }

        if (devices.Count == 0)
        {
            throw new ArgumentException("No host has a healthy device.", nameof(hosts));
        }

        var array = weights.ToArray();
        return new MultiHostWorkPlan(devices, array, WorkloadDistributor.Plan(items, array, method));
    }

    /// <summary>
    /// Splits a model's layers across hosts in ring order (pipeline order): hosts by id, each host's healthy devices
    /// by index, each device a contiguous range of layers in proportion to its free memory after reservations (the
    /// core's <see cref="WorkloadDistributor.PartitionLayers"/>), so consecutive stages sit on one host before the ring
    /// moves to the next.
    /// </summary>
    /// <param name="layers">How many layers, 0 or more.</param>
    /// <param name="hosts">The hosts' reports (a view's <see cref="ClusterGpuView.Hosts"/>).</param>
    /// <param name="bytesPerLayer">The memory one layer needs, or 0 when unknown (no per-device limit).</param>
    /// <returns>The plan: item i is layer i.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="hosts"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layers"/> or <paramref name="bytesPerLayer"/> is negative.</exception>
    /// <exception cref="ArgumentException">No host has a healthy device with free memory.</exception>
    /// <exception cref="InsufficientCapacityException">With <paramref name="bytesPerLayer"/>: the layers do not fit in the free memory.</exception>
    public static MultiHostWorkPlan PartitionLayers(int layers, IReadOnlyList<GpuHostReport> hosts, long bytesPerLayer = 0)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        var devices = new List<ClusterDeviceRef>();
        var memory = new List<long>();
        foreach (var host in hosts.OrderBy(h => h.Host.HostId, StringComparer.Ordinal))
        {
            foreach (var device in host.Devices.Where(d => d.Health == GpuHealth.Healthy && d.FreeBytes > 0).OrderBy(d => d.Index))
            {
                devices.Add(new ClusterDeviceRef(host.Host, device.Uuid));
                memory.Add(device.FreeBytes);
            }
        }

        if (devices.Count == 0)
        {
            throw new ArgumentException("No host has a healthy device with free memory.", nameof(hosts));
        }

        var plan = WorkloadDistributor.PartitionLayers(layers, [.. memory], bytesPerLayer);
        return new MultiHostWorkPlan(devices, [.. memory.Select(m => (double)m)], plan);
    }
}
