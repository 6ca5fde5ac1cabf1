namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>How CUDA numbers devices (<c>CUDA_DEVICE_ORDER</c>).</summary>
public enum CudaDeviceOrder
{
    /// <summary><c>FASTEST_FIRST</c>, CUDA's default: the fastest device first, by a driver heuristic.</summary>
    FastestFirst = 0,

    /// <summary><c>PCI_BUS_ID</c>: by PCI domain, bus, device and function, as <c>nvidia-smi</c> usually numbers them.</summary>
    PciBusId = 1,
}
