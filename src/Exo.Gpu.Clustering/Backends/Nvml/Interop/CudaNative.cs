using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Backends.Nvml.Interop;

/// <summary>
/// The CUDA driver API calls the backend needs, bound with <see cref="LibraryImportAttribute"/>: device enumeration and
/// attributes only. Nothing here creates a context (a primary context costs 100-550 MB of device memory per GPU);
/// memory is read through NVML.
/// </summary>
/// <remarks>
/// <see cref="LibraryName"/> is mapped by <see cref="NativeBinding"/> like <see cref="NvmlNative.LibraryName"/>.
/// <c>CUDAAPI</c> is <c>__stdcall</c> only on 32-bit Windows, which .NET 10 does not target here, so the default
/// convention is right. <c>cuDeviceGetUuid(_v2)</c> and <c>cuDeviceTotalMem_v2</c> are probed in <see cref="CudaOptionalApi"/>.
/// </remarks>
internal static unsafe partial class CudaNative
{
    /// <summary>The logical library name the resolver maps to the bound CUDA driver handle.</summary>
    public const string LibraryName = "exo-gpu-cuda";

    /// <summary>Every export bound here.</summary>
    public static readonly string[] RequiredExports =
    [
        "cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetAttribute", "cuDeviceGetPCIBusId",
    ];

    [LibraryImport(LibraryName, EntryPoint = "cuInit")]
    public static partial int Init(uint flags);

    [LibraryImport(LibraryName, EntryPoint = "cuDriverGetVersion")]
    public static partial int DriverGetVersion(int* version);

    [LibraryImport(LibraryName, EntryPoint = "cuDeviceGetCount")]
    public static partial int DeviceGetCount(int* count);

    [LibraryImport(LibraryName, EntryPoint = "cuDeviceGet")]
    public static partial int DeviceGet(int* device, int ordinal);

    [LibraryImport(LibraryName, EntryPoint = "cuDeviceGetAttribute")]
    public static partial int DeviceGetAttribute(int* value, int attribute, int device);

    [LibraryImport(LibraryName, EntryPoint = "cuDeviceGetPCIBusId")]
    public static partial int DeviceGetPciBusId(byte* pciBusId, int length, int device);
}
