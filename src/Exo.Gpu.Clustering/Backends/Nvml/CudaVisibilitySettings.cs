namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>The <c>CUDA_VISIBLE_DEVICES</c> and <c>CUDA_DEVICE_ORDER</c> a process runs with.</summary>
/// <param name="VisibleDevices">The raw <c>CUDA_VISIBLE_DEVICES</c>; <see langword="null"/> when unset (every device).</param>
/// <param name="Order">The device order.</param>
internal readonly record struct CudaVisibilitySettings(string? VisibleDevices, CudaDeviceOrder Order)
{
    public static CudaDeviceOrder ParseOrder(string? value) =>
        string.Equals(value?.Trim(), "PCI_BUS_ID", StringComparison.Ordinal) ? CudaDeviceOrder.PciBusId : CudaDeviceOrder.FastestFirst;
}
