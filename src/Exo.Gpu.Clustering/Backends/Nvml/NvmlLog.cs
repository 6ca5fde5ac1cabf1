using Exo.Gpu.Clustering.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>The NVML backend's log messages (source generated; event ids 400–499 in <see cref="LogEventIds"/>).</summary>
internal static partial class NvmlLog
{
    [LoggerMessage(EventId = LogEventIds.NvmlReady, Level = LogLevel.Information, Message = "NVML backend ready: '{NvmlPath}', driver {DriverVersion}, CUDA {CudaVersion}, CUDA driver library {CudaPath}")]
    public static partial void Ready(ILogger logger, string nvmlPath, string? driverVersion, string? cudaVersion, string cudaPath);

    [LoggerMessage(EventId = LogEventIds.CudaUnavailable, Level = LogLevel.Warning, Message = "The CUDA driver library is unavailable, so CUDA ordinals and SM counts are unknown: {Reason}")]
    public static partial void CudaUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = LogEventIds.DeviceSkipped, Level = LogLevel.Warning, Message = "NVML device {Index} skipped: {Function} returned {ErrorName} ({ErrorCode})")]
    public static partial void DeviceSkipped(ILogger logger, int index, string function, NvmlErrorName errorName, int errorCode);

    [LoggerMessage(EventId = LogEventIds.CudaDeviceUnmatched, Level = LogLevel.Warning, Message = "CUDA ordinal {Ordinal} (UUID {Uuid}, PCI {PciBusId}) matches no NVML device")]
    public static partial void CudaDeviceUnmatched(ILogger logger, int ordinal, string? uuid, string? pciBusId);

    [LoggerMessage(EventId = LogEventIds.FactUnavailable, Level = LogLevel.Debug, Message = "Device {Uuid}: {Function} returned {ErrorName}; the fact is left unknown")]
    public static partial void FactUnavailable(ILogger logger, string uuid, string function, NvmlErrorName errorName);

    [LoggerMessage(EventId = LogEventIds.FallingBack, Level = LogLevel.Information, Message = "{Function} returned {ErrorName}; using {Fallback} from now on")]
    public static partial void FallingBack(ILogger logger, string function, NvmlErrorName errorName, string fallback);

    [LoggerMessage(EventId = LogEventIds.Discovered, Level = LogLevel.Information, Message = "Discovered {Visible} of {Present} NVIDIA devices (CUDA_VISIBLE_DEVICES '{VisibleDevices}', order {Order})")]
    public static partial void Discovered(ILogger logger, int visible, int present, string? visibleDevices, CudaDeviceOrder order);

    [LoggerMessage(EventId = LogEventIds.EventsUnavailable, Level = LogLevel.Information, Message = "NVML events are unavailable: {Reason}")]
    public static partial void EventsUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = LogEventIds.EventSetCreateFailed, Level = LogLevel.Information, Message = "NVML events are unavailable: nvmlEventSetCreate returned {ErrorName}")]
    public static partial void EventSetCreateFailed(ILogger logger, NvmlErrorName errorName);

    [LoggerMessage(EventId = LogEventIds.EventRegistrationFailed, Level = LogLevel.Warning, Message = "Device {Uuid} is not watched for events: {Function} returned {ErrorName}")]
    public static partial void EventRegistrationFailed(ILogger logger, string uuid, string function, string errorName);

    [LoggerMessage(EventId = LogEventIds.XidSkipped, Level = LogLevel.Debug, Message = "Device {Uuid}: Xid {Xid} is an application error; not reported")]
    public static partial void XidSkipped(ILogger logger, string uuid, ulong xid);

    [LoggerMessage(EventId = LogEventIds.CriticalXid, Level = LogLevel.Warning, Message = "Device {Uuid}: critical Xid {Xid}")]
    public static partial void CriticalXid(ILogger logger, string uuid, ulong xid);

    [LoggerMessage(EventId = LogEventIds.GpuLost, Level = LogLevel.Error, Message = "nvmlEventSetWait_v2 reports a lost GPU; lost: {Uuids}")]
    public static partial void GpuLost(ILogger logger, string uuids);

    [LoggerMessage(EventId = LogEventIds.EventWaitFailed, Level = LogLevel.Warning, Message = "nvmlEventSetWait_v2 returned {ErrorName} ({ErrorCode}); waiting again after a back-off")]
    public static partial void EventWaitFailed(ILogger logger, NvmlErrorName errorName, int errorCode);

    [LoggerMessage(EventId = LogEventIds.UnknownEventDevice, Level = LogLevel.Debug, Message = "An event for an unwatched device handle was dropped")]
    public static partial void UnknownEventDevice(ILogger logger);

    [LoggerMessage(EventId = LogEventIds.NvmlValueUnavailable, Level = LogLevel.Information, Message = "Device {Uuid}: {Function} returned {ErrorName} ({ErrorCode}); that value is left unknown and the rest of the reading stands (logged once)")]
    public static partial void ValueUnavailable(ILogger logger, string uuid, string function, NvmlErrorName errorName, int errorCode);

    [LoggerMessage(EventId = LogEventIds.ShutdownSkipped, Level = LogLevel.Warning, Message = "NVML calls were still running after {Timeout}; nvmlShutdown skipped")]
    public static partial void ShutdownSkipped(ILogger logger, TimeSpan timeout);
}
