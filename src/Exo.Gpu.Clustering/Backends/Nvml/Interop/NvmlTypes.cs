using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Backends.Nvml.Interop;

/// <summary><c>nvmlReturn_t</c>: a 4-byte enum; every code except <see cref="Success"/> is an <c>NVML_ERROR_*</c>.</summary>
internal enum NvmlReturn
{
    Success = 0,
    Uninitialized = 1,
    InvalidArgument = 2,
    NotSupported = 3,
    NoPermission = 4,
    AlreadyInitialized = 5,
    NotFound = 6,
    InsufficientSize = 7,
    InsufficientPower = 8,
    DriverNotLoaded = 9,
    Timeout = 10,
    IrqIssue = 11,
    LibraryNotFound = 12,
    FunctionNotFound = 13,
    CorruptedInforom = 14,
    GpuIsLost = 15,
    ResetRequired = 16,
    OperatingSystem = 17,
    LibRmVersionMismatch = 18,
    InUse = 19,
    Memory = 20,
    NoData = 21,
    VgpuEccNotSupported = 22,
    InsufficientResources = 23,
    FreqNotSupported = 24,
    ArgumentVersionMismatch = 25,
    Deprecated = 26,
    NotReady = 27,
    GpuNotFound = 28,
    InvalidState = 29,
    ResetTypeNotSupported = 30,
    Unknown = 999,
}

/// <summary>Constants of <c>nvml.h</c> the backend uses.</summary>
internal static class NvmlConstants
{
    public const int DeviceNameV2BufferSize = 96;
    public const int DeviceUuidV2BufferSize = 96;
    public const int SystemDriverVersionBufferSize = 80;
    public const int TemperatureGpu = 0;
    public const int ClockSm = 1;
    public const int ClockMem = 2;
    public const int MemoryErrorCorrected = 0;
    public const int MemoryErrorUncorrected = 1;
    public const int EccCounterVolatile = 0;

    public const ulong EventSingleBitEccError = 0x1;
    public const ulong EventDoubleBitEccError = 0x2;
    public const ulong EventXidCriticalError = 0x8;

    /// <summary><c>NVML_STRUCT_VERSION(Memory, 2)</c> = sizeof(nvmlMemory_v2_t) | 2 &lt;&lt; 24 = 0x02000028.</summary>
    public static readonly uint MemoryV2Version = StructVersion<NvmlMemoryV2>(2);

    /// <summary><c>NVML_STRUCT_VERSION(Temperature, 1)</c> = 0x0100000C.</summary>
    public static readonly uint TemperatureV1Version = StructVersion<NvmlTemperatureV1>(1);

    private static uint StructVersion<T>(uint version)
        where T : unmanaged => (uint)Unsafe.SizeOf<T>() | (version << 24);
}

/// <summary><c>nvmlPciInfo_t</c> (68 bytes): the extended <c>busId</c> is <c>domain:bus:device.function</c> with an 8-digit domain.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmlPciInfo
{
    public fixed byte BusIdLegacy[16];
    public uint Domain;
    public uint Bus;
    public uint Device;
    public uint PciDeviceId;
    public uint PciSubSystemId;
    public fixed byte BusId[32];
}

/// <summary><c>nvmlMemory_t</c> (24 bytes); on R510+ drivers <see cref="Used"/> includes reserved memory.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemory
{
    public ulong Total;
    public ulong Free;
    public ulong Used;
}

/// <summary><c>nvmlMemory_v2_t</c> (40 bytes); set <see cref="Version"/> to <see cref="NvmlConstants.MemoryV2Version"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemoryV2
{
    public uint Version;
    public ulong Total;
    public ulong Reserved;
    public ulong Free;
    public ulong Used;
}

/// <summary><c>nvmlUtilization_t</c> (8 bytes), percentages.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlUtilization
{
    public uint Gpu;
    public uint Memory;
}

/// <summary><c>nvmlEventData_t</c> (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlEventData
{
    public nint Device;
    public ulong EventType;
    public ulong EventData;
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}

/// <summary><c>nvmlTemperature_v1_t</c> (12 bytes), in/out for <c>nvmlDeviceGetTemperatureV</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlTemperatureV1
{
    public uint Version;
    public int SensorType;
    public int Temperature;
}

/// <summary><c>CUuuid</c>: 16 bytes, formatted by NVIDIA in byte order as <c>GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CuUuid
{
    public fixed byte Bytes[16];
}

/// <summary>The <c>CUdevice_attribute</c> ids the backend reads.</summary>
internal static class CuDeviceAttribute
{
    public const int MultiprocessorCount = 16;
    public const int MemoryClockRateKHz = 36;
    public const int GlobalMemoryBusWidth = 37;
    public const int ComputeCapabilityMajor = 75;
    public const int ComputeCapabilityMinor = 76;
}

/// <summary>
/// <c>nvmlProcessInfo_t</c> (= <c>nvmlProcessInfo_v2_t</c>, 24 bytes), filled by <c>nvmlDevice{Compute,Graphics}RunningProcesses_v3</c>.
/// Early R535 drivers wrote the 32-byte <c>nvmlProcessDetail_v1_t</c> (one more <c>ulong</c>) through the same
/// export: the reader steps by <see cref="NvmlProcessInfoLayout.Stride"/>, never by <c>sizeof</c>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlProcessInfo
{
    public uint Pid;
    public ulong UsedGpuMemory;
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}

/// <summary>How far apart the process entries of the <c>_v3</c> process calls are, by driver (nvitop's probe).</summary>
internal static class NvmlProcessInfoLayout
{
    /// <summary><c>sizeof(nvmlProcessInfo_v2_t)</c>.</summary>
    public const int V2Size = 24;

    /// <summary><c>sizeof(nvmlProcessDetail_v1_t)</c>: the v2 fields and <c>usedGpuCcProtectedMemory</c>.</summary>
    public const int DetailV1Size = 32;

    /// <summary><c>usedGpuMemory</c> is <c>NVML_VALUE_NOT_AVAILABLE</c> (ULLONG_MAX) when the driver cannot say.</summary>
    public const ulong MemoryNotAvailable = ulong.MaxValue;

    /// <summary>
    /// The stride: 32 bytes on the early R535 drivers that export <c>nvmlDeviceGetConfComputeMemSizeInfo</c> but not yet
    /// <c>nvmlDeviceGetRunningProcessDetailList</c>; 24 otherwise (XuehaiPan/nvitop PR #79, #226; NVIDIA/go-nvml#75).
    /// </summary>
    public static int Stride(bool hasConfComputeMemSizeInfo, bool hasRunningProcessDetailList) =>
        hasConfComputeMemSizeInfo && !hasRunningProcessDetailList ? DetailV1Size : V2Size;
}
