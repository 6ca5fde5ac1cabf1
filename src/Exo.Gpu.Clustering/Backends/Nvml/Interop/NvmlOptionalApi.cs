using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Backends.Nvml.Interop;

/// <summary>
/// NVML symbols that some drivers lack: newer ones (<c>nvmlDeviceGetMemoryInfo_v2</c> from R515,
/// <c>nvmlDeviceGetCurrentClocksEventReasons</c> from 12.2's NVML, <c>nvmlDeviceGetTemperatureV</c> from 12.8's) and
/// deprecated ones a future driver may drop (<c>nvmlDeviceGetCurrentClocksThrottleReasons</c>,
/// <c>nvmlDeviceGetTemperature</c>), plus the Linux-only event API. Each is probed once with
/// <see cref="NativeLibrary.TryGetExport"/> when the library is bound and called through an unmanaged function pointer;
/// a null pointer means "absent, use the fallback".
/// </summary>
internal sealed unsafe class NvmlOptionalApi
{
    private NvmlOptionalApi(nint library)
    {
        GetMemoryInfoV2 = (delegate* unmanaged<nint, NvmlMemoryV2*, NvmlReturn>)Export(library, "nvmlDeviceGetMemoryInfo_v2");
        GetClocksEventReasons = (delegate* unmanaged<nint, ulong*, NvmlReturn>)Export(library, "nvmlDeviceGetCurrentClocksEventReasons");
        GetClocksThrottleReasons = (delegate* unmanaged<nint, ulong*, NvmlReturn>)Export(library, "nvmlDeviceGetCurrentClocksThrottleReasons");
        GetTemperatureV = (delegate* unmanaged<nint, NvmlTemperatureV1*, NvmlReturn>)Export(library, "nvmlDeviceGetTemperatureV");
        GetTemperature = (delegate* unmanaged<nint, int, uint*, NvmlReturn>)Export(library, "nvmlDeviceGetTemperature");
        GetMigMode = (delegate* unmanaged<nint, uint*, uint*, NvmlReturn>)Export(library, "nvmlDeviceGetMigMode");
        GetMemoryBusWidth = (delegate* unmanaged<nint, uint*, NvmlReturn>)Export(library, "nvmlDeviceGetMemoryBusWidth");
        GetCudaComputeCapability = (delegate* unmanaged<nint, int*, int*, NvmlReturn>)Export(library, "nvmlDeviceGetCudaComputeCapability");
        SystemGetCudaDriverVersion = (delegate* unmanaged<int*, NvmlReturn>)Export(library, "nvmlSystemGetCudaDriverVersion");
        EventSetCreate = (delegate* unmanaged<nint*, NvmlReturn>)Export(library, "nvmlEventSetCreate");
        EventSetFree = (delegate* unmanaged<nint, NvmlReturn>)Export(library, "nvmlEventSetFree");
        GetSupportedEventTypes = (delegate* unmanaged<nint, ulong*, NvmlReturn>)Export(library, "nvmlDeviceGetSupportedEventTypes");
        RegisterEvents = (delegate* unmanaged<nint, ulong, nint, NvmlReturn>)Export(library, "nvmlDeviceRegisterEvents");
        EventSetWait = (delegate* unmanaged<nint, NvmlEventData*, uint, NvmlReturn>)Export(library, "nvmlEventSetWait_v2");
        GetComputeRunningProcesses = (delegate* unmanaged<nint, uint*, byte*, NvmlReturn>)Export(library, "nvmlDeviceGetComputeRunningProcesses_v3");
        GetGraphicsRunningProcesses = (delegate* unmanaged<nint, uint*, byte*, NvmlReturn>)Export(library, "nvmlDeviceGetGraphicsRunningProcesses_v3");
        ProcessInfoStride = NvmlProcessInfoLayout.Stride(
            Export(library, "nvmlDeviceGetConfComputeMemSizeInfo") != 0, Export(library, "nvmlDeviceGetRunningProcessDetailList") != 0);
    }

    /// <summary>Every name probed, for the tests (the fake must export them all).</summary>
    public static IReadOnlyList<string> ProbedExports { get; } =
    [
        "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons",
        "nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature", "nvmlDeviceGetMigMode", "nvmlDeviceGetMemoryBusWidth",
        "nvmlDeviceGetCudaComputeCapability", "nvmlSystemGetCudaDriverVersion", "nvmlEventSetCreate", "nvmlEventSetFree",
        "nvmlDeviceGetSupportedEventTypes", "nvmlDeviceRegisterEvents", "nvmlEventSetWait_v2",
        "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v3",
        "nvmlDeviceGetConfComputeMemSizeInfo", "nvmlDeviceGetRunningProcessDetailList",
    ];

    public delegate* unmanaged<nint, NvmlMemoryV2*, NvmlReturn> GetMemoryInfoV2 { get; }

    public delegate* unmanaged<nint, ulong*, NvmlReturn> GetClocksEventReasons { get; }

    public delegate* unmanaged<nint, ulong*, NvmlReturn> GetClocksThrottleReasons { get; }

    public delegate* unmanaged<nint, NvmlTemperatureV1*, NvmlReturn> GetTemperatureV { get; }

    public delegate* unmanaged<nint, int, uint*, NvmlReturn> GetTemperature { get; }

    public delegate* unmanaged<nint, uint*, uint*, NvmlReturn> GetMigMode { get; }

    public delegate* unmanaged<nint, uint*, NvmlReturn> GetMemoryBusWidth { get; }

    public delegate* unmanaged<nint, int*, int*, NvmlReturn> GetCudaComputeCapability { get; }

    public delegate* unmanaged<int*, NvmlReturn> SystemGetCudaDriverVersion { get; }

    public delegate* unmanaged<nint*, NvmlReturn> EventSetCreate { get; }

    public delegate* unmanaged<nint, NvmlReturn> EventSetFree { get; }

    public delegate* unmanaged<nint, ulong*, NvmlReturn> GetSupportedEventTypes { get; }

    public delegate* unmanaged<nint, ulong, nint, NvmlReturn> RegisterEvents { get; }

    public delegate* unmanaged<nint, NvmlEventData*, uint, NvmlReturn> EventSetWait { get; }

    /// <summary><c>nvmlDeviceGetComputeRunningProcesses_v3</c> (R470+; absent on older drivers): entries of <see cref="ProcessInfoStride"/> bytes.</summary>
    public delegate* unmanaged<nint, uint*, byte*, NvmlReturn> GetComputeRunningProcesses { get; }

    /// <summary><c>nvmlDeviceGetGraphicsRunningProcesses_v3</c>, as <see cref="GetComputeRunningProcesses"/>.</summary>
    public delegate* unmanaged<nint, uint*, byte*, NvmlReturn> GetGraphicsRunningProcesses { get; }

    /// <summary>The size of one process entry this driver writes (<see cref="NvmlProcessInfoLayout.Stride"/>).</summary>
    public int ProcessInfoStride { get; }

    /// <summary>Whether the whole event API is present (Linux drivers).</summary>
    public bool HasEvents => EventSetCreate != null && EventSetFree != null && GetSupportedEventTypes != null
        && RegisterEvents != null && EventSetWait != null;

    public static NvmlOptionalApi Probe(nint library) => new(library);

    private static nint Export(nint library, string name) => NativeLibrary.TryGetExport(library, name, out var address) ? address : 0;
}
