using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>The NVML backend's log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "NVML backend ready: '{NvmlPath}', driver {DriverVersion}, CUDA {CudaVersion}, CUDA driver library {CudaPath}")]
    public static partial void Ready(ILogger logger, string nvmlPath, string? driverVersion, string? cudaVersion, string cudaPath);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "The CUDA driver library is unavailable, so CUDA ordinals and SM counts are unknown: {Reason}")]
    public static partial void CudaUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "NVML device {Index} skipped: {Function} returned {ErrorName} ({ErrorCode})")]
    public static partial void DeviceSkipped(ILogger logger, int index, string function, NvmlErrorName errorName, int errorCode);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Warning, Message = "CUDA ordinal {Ordinal} (UUID {Uuid}, PCI {PciBusId}) matches no NVML device")]
    public static partial void CudaDeviceUnmatched(ILogger logger, int ordinal, string? uuid, string? pciBusId);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Debug, Message = "Device {Uuid}: {Function} returned {ErrorName}; the fact is left unknown")]
    public static partial void FactUnavailable(ILogger logger, string uuid, string function, NvmlErrorName errorName);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Information, Message = "{Function} returned {ErrorName}; using {Fallback} from now on")]
    public static partial void FallingBack(ILogger logger, string function, NvmlErrorName errorName, string fallback);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Information, Message = "Discovered {Visible} of {Present} NVIDIA devices (CUDA_VISIBLE_DEVICES '{VisibleDevices}', order {Order})")]
    public static partial void Discovered(ILogger logger, int visible, int present, string? visibleDevices, CudaDeviceOrder order);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Information, Message = "NVML events are unavailable: {Reason}")]
    public static partial void EventsUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 7017, Level = LogLevel.Information, Message = "NVML events are unavailable: nvmlEventSetCreate returned {ErrorName}")]
    public static partial void EventSetCreateFailed(ILogger logger, NvmlErrorName errorName);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Warning, Message = "Device {Uuid} is not watched for events: {Function} returned {ErrorName}")]
    public static partial void EventRegistrationFailed(ILogger logger, string uuid, string function, string errorName);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Debug, Message = "Device {Uuid}: Xid {Xid} is an application error; not reported")]
    public static partial void XidSkipped(ILogger logger, string uuid, ulong xid);

    [LoggerMessage(EventId = 7013, Level = LogLevel.Warning, Message = "Device {Uuid}: critical Xid {Xid}")]
    public static partial void CriticalXid(ILogger logger, string uuid, ulong xid);

    [LoggerMessage(EventId = 7014, Level = LogLevel.Error, Message = "nvmlEventSetWait_v2 reports a lost GPU; lost: {Uuids}")]
    public static partial void GpuLost(ILogger logger, string uuids);

    [LoggerMessage(EventId = 7015, Level = LogLevel.Warning, Message = "nvmlEventSetWait_v2 returned {ErrorName} ({ErrorCode}); waiting again after a back-off")]
    public static partial void EventWaitFailed(ILogger logger, NvmlErrorName errorName, int errorCode);

    [LoggerMessage(EventId = 7016, Level = LogLevel.Debug, Message = "An event for an unwatched device handle was dropped")]
    public static partial void UnknownEventDevice(ILogger logger);

    [LoggerMessage(EventId = 7020, Level = LogLevel.Warning, Message = "NVML calls were still running after {Timeout}; nvmlShutdown skipped")]
    public static partial void ShutdownSkipped(ILogger logger, TimeSpan timeout);
}
