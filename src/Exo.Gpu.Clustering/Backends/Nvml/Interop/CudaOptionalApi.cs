using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Backends.Nvml.Interop;

/// <summary>CUDA driver symbols the backend can do without: <c>cuDeviceGetUuid_v2</c> (11.4+), <c>cuDeviceGetUuid</c>, <c>cuDeviceTotalMem_v2</c>.</summary>
internal sealed unsafe class CudaOptionalApi
{
    private CudaOptionalApi(nint library)
    {
        DeviceGetUuidV2 = (delegate* unmanaged<CuUuid*, int, int>)Export(library, "cuDeviceGetUuid_v2");
        DeviceGetUuid = (delegate* unmanaged<CuUuid*, int, int>)Export(library, "cuDeviceGetUuid");
        DeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)Export(library, "cuDeviceTotalMem_v2");
    }

    /// <summary>Every name probed, for the tests.</summary>
    public static IReadOnlyList<string> ProbedExports { get; } = ["cuDeviceGetUuid_v2", "cuDeviceGetUuid", "cuDeviceTotalMem_v2"];

    public delegate* unmanaged<CuUuid*, int, int> DeviceGetUuidV2 { get; }

    public delegate* unmanaged<CuUuid*, int, int> DeviceGetUuid { get; }

    public delegate* unmanaged<nuint*, int, int> DeviceTotalMem { get; }

    public static CudaOptionalApi Probe(nint library) => new(library);

    private static nint Export(nint library, string name) => NativeLibrary.TryGetExport(library, name, out var address) ? address : 0;
}
