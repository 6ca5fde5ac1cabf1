using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Orleans.Pool;

/// <summary>
/// Plans a cluster request on the directory's view (pure): which hosts, and how many devices on each. The view may be
/// stale; the hosts decide. Best fit by default, so free devices stay together on other hosts (the fragmentation Ray's
/// users complain about).
/// </summary>
internal static class ClusterPlanner
{
    /// <summary>How many of <paramref name="host"/>'s devices could take <paramref name="request"/> per its report.</summary>
    public static int Fits(GpuHostReport host, ClusterGpuRequest request)
    {
        var fits = 0;
        foreach (var device in host.Devices)
        {
            if (Usable(device, request))
            {
                fits++;
            }
        }

        return fits;
    }

    /// <summary>The hosts and device counts to try, or <see langword="null"/> when the view cannot hold the request.</summary>
    public static IReadOnlyList<(GpuHostReport Host, int Devices)>? Plan(IEnumerable<GpuHostReport> hosts, ClusterGpuRequest request, IReadOnlySet<string> excluded)
    {
        var candidates = hosts
            .Where(h => !excluded.Contains(h.Host.HostId))
            .Select(h => (Host: h, Fits: Fits(h, request), Tightest: Tightest(h, request)))
            .Where(c => c.Fits > 0)
            .ToList();
        var count = request.DeviceCount;
        if (candidates.Sum(c => c.Fits) < count)
        {
            return null;
        }

        // Best fit: the host with the fewest fitting devices that can hold the request, then the tightest device.
        var single = candidates
            .Where(c => c.Fits >= count)
            .OrderBy(c => c.Fits).ThenBy(c => c.Tightest).ThenBy(c => c.Host.Host.HostId, StringComparer.Ordinal)
            .Select(c => c.Host)
            .FirstOrDefault();
        switch (request.Placement)
        {
            case GangPlacement.StrictPack:
                return single is null ? null : [(single, count)];
            case GangPlacement.Pack:
                if (single is not null)
                {
                    return [(single, count)];
                }

                // Fewest hosts: the roomiest first.
                var packed = new List<(GpuHostReport, int)>();
                var left = count;
                foreach (var c in candidates.OrderByDescending(c => c.Fits).ThenBy(c => c.Host.Host.HostId, StringComparer.Ordinal))
                {
                    var take = Math.Min(left, c.Fits);
                    packed.Add((c.Host, take));
                    left -= take;
                    if (left == 0)
                    {
                        break;
                    }
                }

                return packed;
            case GangPlacement.StrictSpread:
                return candidates.Count < count ? null
                    : [.. candidates.OrderByDescending(c => c.Fits).ThenBy(c => c.Host.Host.HostId, StringComparer.Ordinal).Take(count).Select(c => (c.Host, 1))];
            default:
                // Spread: one device per host in turn, the roomiest hosts first.
                var order = candidates.OrderByDescending(c => c.Fits).ThenBy(c => c.Host.Host.HostId, StringComparer.Ordinal).ToList();
                var taken = new int[order.Count];
                var remaining = count;
                while (remaining > 0)
                {
                    for (var i = 0; i < order.Count && remaining > 0; i++)
                    {
                        if (taken[i] < order[i].Fits)
                        {
                            taken[i]++;
                            remaining--;
                        }
                    }
                }

                return [.. order.Select((c, i) => (c.Host, taken[i])).Where(p => p.Item2 > 0)];
        }
    }

    private static bool Usable(GpuHostDeviceReport device, ClusterGpuRequest request) =>
        (device.Health == GpuHealth.Healthy || (request.AllowDegraded && device.Health == GpuHealth.Degraded))
        && device.FreeBytes >= request.MemoryBytes
        && (request.ExcludedDevices is not { } excluded || Array.IndexOf(excluded, device.Uuid) < 0);

    private static long Tightest(GpuHostReport host, ClusterGpuRequest request)
    {
        var tightest = long.MaxValue;
        foreach (var device in host.Devices)
        {
            if (Usable(device, request))
            {
                tightest = Math.Min(tightest, device.FreeBytes);
            }
        }

        return tightest;
    }
}
