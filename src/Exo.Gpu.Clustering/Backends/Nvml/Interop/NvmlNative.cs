using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Backends.Nvml.Interop;

/// <summary>
/// The NVML calls every supported driver exports, bound with source-generated <see cref="LibraryImportAttribute"/> to
/// the versioned export names (<c>nvml.h</c> turns <c>nvmlInit</c> into <c>nvmlInit_v2</c> and so on).
/// </summary>
/// <remarks>
/// <para><see cref="LibraryName"/> is a logical name: <see cref="NativeBinding"/>'s resolver maps it to the handle of the
/// NVML library the first <see cref="NvmlGpuBackend"/> of the process loaded. A P/Invoke binds once per process, so
/// every backend of a process shares that library; <see cref="NativeBinding"/> refuses a second, different one.</para>
/// <para>Symbols that older drivers lack, or that newer ones deprecate, are not here: <see cref="NvmlOptionalApi"/> probes
/// them once with <see cref="NativeLibrary.TryGetExport"/> and calls them through function pointers.</para>
/// <para>Every signature is blittable (pointers, integers, the 4-byte <see cref="NvmlReturn"/>), so the generated stubs
/// marshal nothing. <c>nvmlErrorString</c> returns a static string: it is bound as <see cref="nint"/>, because a
/// <see cref="string"/> return would make the stub free memory NVML owns.</para>
/// </remarks>
internal static unsafe partial class NvmlNative
{
    /// <summary>The logical library name the resolver maps to the bound NVML handle.</summary>
    public const string LibraryName = "exo-gpu-nvml";

    /// <summary>Every export bound here; a library lacking one is refused before any call (a wrong or ancient library).</summary>
    public static readonly string[] RequiredExports =
    [
        "nvmlInit_v2", "nvmlShutdown", "nvmlErrorString", "nvmlSystemGetDriverVersion", "nvmlDeviceGetCount_v2",
        "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetUUID", "nvmlDeviceGetName", "nvmlDeviceGetPciInfo_v3",
        "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetClockInfo", "nvmlDeviceGetMaxClockInfo",
        "nvmlDeviceGetTotalEccErrors",
    ];

    [LibraryImport(LibraryName, EntryPoint = "nvmlInit_v2")]
    public static partial NvmlReturn Init();

    [LibraryImport(LibraryName, EntryPoint = "nvmlShutdown")]
    public static partial NvmlReturn Shutdown();

    [LibraryImport(LibraryName, EntryPoint = "nvmlErrorString")]
    public static partial nint ErrorString(NvmlReturn result);

    [LibraryImport(LibraryName, EntryPoint = "nvmlSystemGetDriverVersion")]
    public static partial NvmlReturn SystemGetDriverVersion(byte* version, uint length);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetCount_v2")]
    public static partial NvmlReturn DeviceGetCount(uint* count);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetHandleByIndex_v2")]
    public static partial NvmlReturn DeviceGetHandleByIndex(uint index, nint* device);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetUUID")]
    public static partial NvmlReturn DeviceGetUuid(nint device, byte* uuid, uint length);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetName")]
    public static partial NvmlReturn DeviceGetName(nint device, byte* name, uint length);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPciInfo_v3")]
    public static partial NvmlReturn DeviceGetPciInfo(nint device, NvmlPciInfo* pci);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMemoryInfo")]
    public static partial NvmlReturn DeviceGetMemoryInfo(nint device, NvmlMemory* memory);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetUtilizationRates")]
    public static partial NvmlReturn DeviceGetUtilizationRates(nint device, NvmlUtilization* utilization);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPowerUsage")]
    public static partial NvmlReturn DeviceGetPowerUsage(nint device, uint* milliwatts);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetEnforcedPowerLimit")]
    public static partial NvmlReturn DeviceGetEnforcedPowerLimit(nint device, uint* milliwatts);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetClockInfo")]
    public static partial NvmlReturn DeviceGetClockInfo(nint device, int clockType, uint* megahertz);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMaxClockInfo")]
    public static partial NvmlReturn DeviceGetMaxClockInfo(nint device, int clockType, uint* megahertz);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetTotalEccErrors")]
    public static partial NvmlReturn DeviceGetTotalEccErrors(nint device, int errorType, int counterType, ulong* count);
}
