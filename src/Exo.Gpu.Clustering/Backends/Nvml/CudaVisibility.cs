using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>
/// Decides which devices a process sees and their CUDA ordinals, following CUDA's rules for <c>CUDA_VISIBLE_DEVICES</c>:
/// a comma-separated list of indices or GPU UUIDs (a unique prefix including <c>GPU-</c> is enough; <c>MIG-GPU-&lt;uuid&gt;/gi/ci</c>
/// selects its GPU, and so does a MIG device's <c>MIG-&lt;uuid&gt;</c> that CUDA lists on it: the GPU is listed once, without
/// a CUDA ordinal, whatever the number of its MIG devices listed), enumerated in list order; the first entry that is invalid, out of range, ambiguous or repeated ends
/// the list (<c>0,2,-1,1</c> shows 0 and 2; <c>-1</c> or an empty value shows none). Indices count in
/// <c>CUDA_DEVICE_ORDER</c> order, not NVML order.
/// </summary>
/// <remarks>
/// The CUDA driver applies the process's own settings when it initializes, so when the requested settings are the
/// process's (the default) its enumeration is taken as is. Otherwise (an override) the rules are applied here to the
/// full order: PCI bus id order; or, for <c>FASTEST_FIRST</c>, the driver's own order when the driver sees every device
/// under <c>FASTEST_FIRST</c>, else an emulation (newest compute capability, then most SMs, then PCI bus id). The ordinals
/// are then those a process started with the requested settings would use.
/// </remarks>
internal static class CudaVisibility
{
    /// <summary>The visible devices in CUDA ordinal order, with their ordinals (<see langword="null"/> without a CUDA driver).</summary>
    /// <param name="nvml">Every NVML device.</param>
    /// <param name="cuda">The CUDA enumeration: per ordinal, the NVML device it joined to (<see langword="null"/> if none); <see langword="null"/> when the CUDA driver is unavailable.</param>
    /// <param name="requested">The settings asked for.</param>
    /// <param name="process">The settings of this process, which the CUDA driver applied.</param>
    public static IReadOnlyList<(VisibilityDevice Device, int? CudaOrdinal)> Plan(
        IReadOnlyList<VisibilityDevice> nvml,
        IReadOnlyList<VisibilityDevice?>? cuda,
        CudaVisibilitySettings requested,
        CudaVisibilitySettings process)
    {
        var plan = new List<(VisibilityDevice, int?)>(nvml.Count);
        if (cuda is not null && requested == process)
        {
            for (var ordinal = 0; ordinal < cuda.Count; ordinal++)
            {
                if (cuda[ordinal] is { } device)
                {
                    plan.Add((device, ordinal));
                }
            }

            return plan;
        }

        var full = FullOrder(nvml, cuda, requested.Order, process);
        var picked = Select(requested.VisibleDevices, full);
        for (var i = 0; i < picked.Count; i++)
        {
            plan.Add((full[picked[i]], cuda is null ? null : i));
        }

        return plan;
    }

    /// <summary>Positions in <paramref name="order"/> that <paramref name="visibleDevices"/> selects, in its order.</summary>
    public static IReadOnlyList<int> Select(string? visibleDevices, IReadOnlyList<VisibilityDevice> order)
    {
        if (visibleDevices is null)
        {
            return [.. Enumerable.Range(0, order.Count)];
        }

        var picked = new List<int>();
        foreach (var raw in visibleDevices.Split(','))
        {
            var entry = raw.Trim();
            var position = Resolve(entry, order);
            if (position >= 0 && picked.Contains(position) && IsMigDeviceUuid(entry))
            {
                continue; // another MIG device of a GPU already picked: the GPU is listed once
            }

            if (position < 0 || picked.Contains(position))
            {
                break;
            }

            picked.Add(position);
        }

        return picked;
    }

    private static int Resolve(string entry, IReadOnlyList<VisibilityDevice> order)
    {
        if (entry.Length == 0)
        {
            return -1;
        }

        if (int.TryParse(entry, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var index))
        {
            return index >= 0 && index < order.Count ? index : -1;
        }

        if (entry.StartsWith("MIG-GPU-", StringComparison.OrdinalIgnoreCase))
        {
            var slash = entry.IndexOf('/', StringComparison.Ordinal);
            entry = slash < 0 ? entry[4..] : entry[4..slash];
        }

        if (IsMigDeviceUuid(entry))
        {
            return ResolveMig(entry, order);
        }

        if (!entry.StartsWith("GPU-", StringComparison.OrdinalIgnoreCase))
        {
            return -1; // not an index and not a GPU UUID: CUDA stops here
        }

        var match = -1;
        for (var i = 0; i < order.Count; i++)
        {
            if (order[i].Uuid.StartsWith(entry, StringComparison.OrdinalIgnoreCase))
            {
                if (match >= 0)
                {
                    return -1; // ambiguous prefix
                }

                match = i;
            }
        }

        return match;
    }

    /// <summary>Whether an entry is a MIG device's UUID, <c>MIG-&lt;uuid&gt;</c> (not the older <c>MIG-GPU-&lt;uuid&gt;/gi/ci</c>).</summary>
    private static bool IsMigDeviceUuid(string entry) =>
        entry.StartsWith("MIG-", StringComparison.OrdinalIgnoreCase) && !entry.StartsWith("MIG-GPU-", StringComparison.OrdinalIgnoreCase);

    /// <summary>The GPU whose MIG devices (as CUDA lists them) include <paramref name="entry"/> or a unique one it prefixes; -1 if none or ambiguous.</summary>
    private static int ResolveMig(string entry, IReadOnlyList<VisibilityDevice> order)
    {
        var match = -1;
        for (var i = 0; i < order.Count; i++)
        {
            foreach (var mig in order[i].MigUuids)
            {
                if (mig.StartsWith(entry, StringComparison.OrdinalIgnoreCase))
                {
                    if (match >= 0 && match != i)
                    {
                        return -1;
                    }

                    match = i;
                }
            }
        }

        return match;
    }

    private static IReadOnlyList<VisibilityDevice> FullOrder(
        IReadOnlyList<VisibilityDevice> nvml, IReadOnlyList<VisibilityDevice?>? cuda, CudaDeviceOrder order, CudaVisibilitySettings process)
    {
        if (order == CudaDeviceOrder.PciBusId)
        {
            return [.. nvml.OrderBy(d => d.PciBusId is null ? 1 : 0).ThenBy(d => d.PciBusId, StringComparer.Ordinal).ThenBy(d => d.NvmlIndex)];
        }

        if (cuda is not null && process.VisibleDevices is null && process.Order == CudaDeviceOrder.FastestFirst
            && cuda.Count == nvml.Count && cuda.All(d => d is not null) && cuda.Distinct().Count() == nvml.Count)
        {
            return [.. cuda.Select(d => d!)];
        }

        return
        [
            .. nvml.OrderByDescending(d => d.ComputeCapability?.Major ?? 0)
                .ThenByDescending(d => d.ComputeCapability?.Minor ?? 0)
                .ThenByDescending(d => d.MultiprocessorCount ?? 0)
                .ThenBy(d => d.PciBusId is null ? 1 : 0)
                .ThenBy(d => d.PciBusId, StringComparer.Ordinal)
                .ThenBy(d => d.NvmlIndex),
        ];
    }
}
