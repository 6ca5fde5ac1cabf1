using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

/// <summary>The managed structs, constants and export names against the C side (compiled from the real header's layouts).</summary>
[Collection(FakeGpuTests.Name)]
public class NvmlInteropLayoutTests
{
    public static TheoryData<string, Type, int> Structs => new()
    {
        // C name, managed type, size documented in shared/reference/nvml-cuda.md (x86-64)
        { "nvmlPciInfo_t", typeof(NvmlPciInfo), 68 },
        { "nvmlMemory_t", typeof(NvmlMemory), 24 },
        { "nvmlMemory_v2_t", typeof(NvmlMemoryV2), 40 },
        { "nvmlUtilization_t", typeof(NvmlUtilization), 8 },
        { "nvmlEventData_t", typeof(NvmlEventData), 32 },
        { "nvmlTemperature_v1_t", typeof(NvmlTemperatureV1), 12 },
        { "CUuuid", typeof(CuUuid), 16 },
        { "nvmlDevice_t", typeof(nint), 8 },
        { "nvmlEventSet_t", typeof(nint), 8 },
        { "nvmlReturn_t", typeof(NvmlReturn), 4 },
        { "CUresult", typeof(int), 4 },
        { "CUdevice", typeof(int), 4 },
    };

    public static TheoryData<string, Type, string> Fields => new()
    {
        { "nvmlPciInfo_t.busIdLegacy", typeof(NvmlPciInfo), nameof(NvmlPciInfo.BusIdLegacy) },
        { "nvmlPciInfo_t.domain", typeof(NvmlPciInfo), nameof(NvmlPciInfo.Domain) },
        { "nvmlPciInfo_t.bus", typeof(NvmlPciInfo), nameof(NvmlPciInfo.Bus) },
        { "nvmlPciInfo_t.device", typeof(NvmlPciInfo), nameof(NvmlPciInfo.Device) },
        { "nvmlPciInfo_t.pciDeviceId", typeof(NvmlPciInfo), nameof(NvmlPciInfo.PciDeviceId) },
        { "nvmlPciInfo_t.pciSubSystemId", typeof(NvmlPciInfo), nameof(NvmlPciInfo.PciSubSystemId) },
        { "nvmlPciInfo_t.busId", typeof(NvmlPciInfo), nameof(NvmlPciInfo.BusId) },
        { "nvmlMemory_t.total", typeof(NvmlMemory), nameof(NvmlMemory.Total) },
        { "nvmlMemory_t.free", typeof(NvmlMemory), nameof(NvmlMemory.Free) },
        { "nvmlMemory_t.used", typeof(NvmlMemory), nameof(NvmlMemory.Used) },
        { "nvmlMemory_v2_t.version", typeof(NvmlMemoryV2), nameof(NvmlMemoryV2.Version) },
        { "nvmlMemory_v2_t.total", typeof(NvmlMemoryV2), nameof(NvmlMemoryV2.Total) },
        { "nvmlMemory_v2_t.reserved", typeof(NvmlMemoryV2), nameof(NvmlMemoryV2.Reserved) },
        { "nvmlMemory_v2_t.free", typeof(NvmlMemoryV2), nameof(NvmlMemoryV2.Free) },
        { "nvmlMemory_v2_t.used", typeof(NvmlMemoryV2), nameof(NvmlMemoryV2.Used) },
        { "nvmlUtilization_t.gpu", typeof(NvmlUtilization), nameof(NvmlUtilization.Gpu) },
        { "nvmlUtilization_t.memory", typeof(NvmlUtilization), nameof(NvmlUtilization.Memory) },
        { "nvmlEventData_t.device", typeof(NvmlEventData), nameof(NvmlEventData.Device) },
        { "nvmlEventData_t.eventType", typeof(NvmlEventData), nameof(NvmlEventData.EventType) },
        { "nvmlEventData_t.eventData", typeof(NvmlEventData), nameof(NvmlEventData.EventData) },
        { "nvmlEventData_t.gpuInstanceId", typeof(NvmlEventData), nameof(NvmlEventData.GpuInstanceId) },
        { "nvmlEventData_t.computeInstanceId", typeof(NvmlEventData), nameof(NvmlEventData.ComputeInstanceId) },
        { "nvmlTemperature_v1_t.version", typeof(NvmlTemperatureV1), nameof(NvmlTemperatureV1.Version) },
        { "nvmlTemperature_v1_t.sensorType", typeof(NvmlTemperatureV1), nameof(NvmlTemperatureV1.SensorType) },
        { "nvmlTemperature_v1_t.temperature", typeof(NvmlTemperatureV1), nameof(NvmlTemperatureV1.Temperature) },
    };

    [Theory]
    [MemberData(nameof(Structs))]
    public void ManagedStruct_Size_MatchesCSideAndReference(string cName, Type managed, int documented)
    {
        var cSize = FakeGpuLibrary.Main.SizeOf(cName);
        cSize.Should().Be(documented, $"the C compiler lays out {cName} as the reference says");
        Marshal.SizeOf(managed.IsEnum ? Enum.GetUnderlyingType(managed) : managed).Should().Be((int)cSize);
        SizeOfUnmanaged(managed).Should().Be((int)cSize, "the stubs pass the struct by pointer without marshalling");
    }

    [Theory]
    [MemberData(nameof(Fields))]
    public void ManagedStruct_FieldOffset_MatchesCSide(string cField, Type managed, string field)
    {
        var cOffset = FakeGpuLibrary.Main.OffsetOf(cField);
        cOffset.Should().BeGreaterThanOrEqualTo(0, $"the fake knows {cField}");
        Marshal.OffsetOf(managed, field).ToInt64().Should().Be(cOffset);
    }

    [Fact]
    public void StructVersions_MatchTheHeaderMacro()
    {
        NvmlConstants.MemoryV2Version.Should().Be(FakeGpuLibrary.Main.StructVersion("nvmlMemory_v2")).And.Be(0x02000028u);
        NvmlConstants.TemperatureV1Version.Should().Be(FakeGpuLibrary.Main.StructVersion("nvmlTemperature_v1")).And.Be(0x0100000Cu);
    }

    [Fact]
    public void RequiredExports_AreExactlyTheLibraryImportEntryPoints()
    {
        EntryPoints(typeof(NvmlNative), NvmlNative.LibraryName).Should().BeEquivalentTo(NvmlNative.RequiredExports);
        EntryPoints(typeof(CudaNative), CudaNative.LibraryName).Should().BeEquivalentTo(CudaNative.RequiredExports);
    }

    [Fact]
    public void FakeLibrary_ExportsEverySymbolTheBackendBindsOrProbes()
    {
        var all = NvmlNative.RequiredExports.Concat(NvmlOptionalApi.ProbedExports)
            .Concat(CudaNative.RequiredExports).Concat(CudaOptionalApi.ProbedExports);
        all.Where(name => !FakeGpuLibrary.Main.Exports(name)).Should().BeEmpty();
        FakeGpuLibrary.Main.IsOldDriver.Should().BeFalse();
    }

    [Fact]
    public void OldDriverBuild_LacksExactlyTheNewerSymbols()
    {
        var old = FakeGpuLibrary.OldDriver;
        old.IsOldDriver.Should().BeTrue();
        NvmlNative.RequiredExports.Where(name => !old.Exports(name)).Should().BeEmpty();
        NvmlOptionalApi.ProbedExports.Where(name => !old.Exports(name)).Should().BeEquivalentTo(
            "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetTemperatureV",
            "nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v3",
            "nvmlDeviceGetConfComputeMemSizeInfo", "nvmlDeviceGetRunningProcessDetailList");
    }

    private static int SizeOfUnmanaged(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    private static IEnumerable<string> EntryPoints(Type type, string library) =>
        type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Select(m => m.GetCustomAttribute<LibraryImportAttribute>())
            .Where(a => a is not null && a.LibraryName == library)
            .Select(a => a!.EntryPoint!);
}
