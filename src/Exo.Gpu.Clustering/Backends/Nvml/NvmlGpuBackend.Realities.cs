using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>
/// What real NVIDIA drivers do that a fake would not (<c>nvidia-realities.md</c>): <c>cuInit</c> answering
/// <c>CUDA_ERROR_NO_DEVICE</c> when the CUDA driver cannot reach the kernel driver, and CUDA listing a MIG-enabled
/// GPU's MIG devices instead of the GPU.
/// </summary>
public sealed partial class NvmlGpuBackend
{
    /// <summary>Why the last discovery listed no device, or <see langword="null"/> when it listed some.</summary>
    private string? _noDeviceReason;

    /// <summary>Whether the "cuInit answered NO_DEVICE although nothing is hidden" warning was logged.</summary>
    private int _cudaNoDeviceLogged;

    /// <summary>Why the last discovery listed no device (for the "no device" messages), or <see langword="null"/> when it listed some or has not run.</summary>
    internal string? NoDeviceReason => Volatile.Read(ref _noDeviceReason);

    /// <summary>
    /// <c>cuInit</c> answered <c>CUDA_ERROR_NO_DEVICE</c> (100). It does so when <c>CUDA_VISIBLE_DEVICES</c> hides every
    /// device, but also whenever the CUDA driver cannot reach the kernel driver: read as "everything hidden" (no CUDA
    /// device) only when this process's <c>CUDA_VISIBLE_DEVICES</c> selects none of the NVML devices; otherwise carry on
    /// without CUDA (no ordinals), and say why once.
    /// </summary>
    /// <returns>An empty enumeration (everything hidden), or <see langword="null"/> (CUDA unavailable).</returns>
    private List<CudaFacts?>? CudaNoDevice(List<NvmlFacts> nvml)
    {
        if (ProcessHidesEveryDevice(nvml))
        {
            return [];
        }

        if (Interlocked.Exchange(ref _cudaNoDeviceLogged, 1) == 0)
        {
            NvmlLog.CudaUnavailable(_logger, string.Create(
                CultureInfo.InvariantCulture,
                $"cuInit returned {NvmlErrors.CudaName(100)} (100), but this process's CUDA_VISIBLE_DEVICES ({Quote(_process.VisibleDevices)}) hides none of the {nvml.Count} NVML devices: the CUDA driver cannot reach the kernel driver; the NVML devices are listed without CUDA ordinals"));
        }

        return null;
    }

    /// <summary>Whether this process's <c>CUDA_VISIBLE_DEVICES</c> is set and selects none of <paramref name="nvml"/> (emptiness does not depend on the order).</summary>
    private bool ProcessHidesEveryDevice(List<NvmlFacts> nvml) =>
        _process.VisibleDevices is { } visible
        && CudaVisibility.Select(visible, nvml.ConvertAll(f => new VisibilityDevice(f.Index, f.Uuid, f.PciKey, f.ComputeCapability, null))).Count == 0;

    /// <summary>A MIG-enabled GPU has no CUDA ordinal of its own (CUDA numbers its MIG devices): the plan without one.</summary>
    private static IReadOnlyList<(VisibilityDevice Device, int? CudaOrdinal)> WithoutMigDuplicates(
        IReadOnlyList<(VisibilityDevice Device, int? CudaOrdinal)> plan, List<NvmlFacts> facts)
    {
        var mig = facts.Where(f => f.MigSlices.Count > 0).Select(f => f.Index).ToHashSet();
        if (mig.Count == 0)
        {
            return plan;
        }

        var seen = new HashSet<int>();
        var result = new List<(VisibilityDevice, int?)>(plan.Count);
        foreach (var (device, ordinal) in plan)
        {
            if (seen.Add(device.NvmlIndex))
            {
                result.Add((device, mig.Contains(device.NvmlIndex) ? null : ordinal));
            }
        }

        return result;
    }

    /// <summary>The memory of a MIG-enabled GPU's MIG devices that CUDA lists, together; null when unknown.</summary>
    private static long? SliceMemory(NvmlFacts facts)
    {
        long sum = 0;
        foreach (var slice in facts.MigSlices)
        {
            if (slice.TotalMemoryBytes is not long bytes)
            {
                return null;
            }

            sum += bytes;
        }

        return sum > 0 ? sum : null;
    }

    /// <summary>Why a discovery listed no device.</summary>
    private string WhyNoDevice(int present, int readable, int planned, List<CudaFacts?>? cuda)
    {
        if (present == 0)
        {
            return "nvmlDeviceGetCount_v2 reports no device";
        }

        if (readable == 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"none of the {present} NVML devices could be identified (see the log)");
        }

        if (planned == 0)
        {
            return _cudaSeesNoDevice && cuda is { Count: 0 }
                ? string.Create(CultureInfo.InvariantCulture, $"cuInit returned {NvmlErrors.CudaName(100)} and this process's CUDA_VISIBLE_DEVICES ({Quote(_process.VisibleDevices)}) hides all {present} devices")
                : string.Create(CultureInfo.InvariantCulture, $"CUDA_VISIBLE_DEVICES {Quote(_requested.VisibleDevices)} selects none of the {present} devices");
        }

        return string.Create(CultureInfo.InvariantCulture, $"every visible device was skipped for want of its total memory (see the log)");
    }

    private static string Quote(string? value) => value is null ? "unset" : "'" + value + "'";
}
