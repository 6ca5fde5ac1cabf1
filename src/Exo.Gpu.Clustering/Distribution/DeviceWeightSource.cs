using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Distribution;

/// <summary>What a device's share of the work is proportional to.</summary>
public enum DeviceWeightSource
{
    /// <summary>Every device the same.</summary>
    Uniform = 0,

    /// <summary>Total device memory (<see cref="GpuDevice.TotalMemoryBytes"/>).</summary>
    TotalMemory = 1,

    /// <summary>Free device memory now (<see cref="GpuSample.MemoryFreeBytes"/> of a recent sample per device).</summary>
    FreeMemory = 2,

    /// <summary>Peak compute: <see cref="GpuDevice.MultiprocessorCount"/> × <see cref="GpuDevice.MaxSmClockMHz"/>.</summary>
    Compute = 3,
}
