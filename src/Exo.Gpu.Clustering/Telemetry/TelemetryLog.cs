using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>The telemetry area's log messages (source generated; event ids 200–299 in <see cref="LogEventIds"/>).</summary>
internal static partial class TelemetryLog
{
    [LoggerMessage(EventId = LogEventIds.HealthChanged, Message = "Device {Uuid} health {Previous} -> {Current}: {Reason}")]
    public static partial void HealthChanged(ILogger logger, LogLevel level, string uuid, GpuHealth previous, GpuHealth current, string reason);

    [LoggerMessage(EventId = LogEventIds.TelemetryDeviceAdded, Level = LogLevel.Information, Message = "Device {Uuid} added to telemetry (slot {Slot})")]
    public static partial void DeviceAdded(ILogger logger, string uuid, int slot);

    [LoggerMessage(EventId = LogEventIds.DeviceRejoined, Level = LogLevel.Information, Message = "Device {Uuid} rejoined telemetry with a fresh history (slot {Slot})")]
    public static partial void DeviceRejoined(ILogger logger, string uuid, int slot);

    [LoggerMessage(EventId = LogEventIds.DeviceLost, Level = LogLevel.Warning, Message = "Device {Uuid} lost: {Reason}")]
    public static partial void DeviceLost(ILogger logger, string uuid, string reason);

    [LoggerMessage(EventId = LogEventIds.CriticalEvent, Level = LogLevel.Warning, Message = "Device {Uuid}: {Kind} event (code {Code})")]
    public static partial void CriticalEvent(ILogger logger, string uuid, GpuDeviceEventKind kind, long code);

    [LoggerMessage(EventId = LogEventIds.EventIgnored, Level = LogLevel.Debug, Message = "Ignored a {Kind} event for device {Uuid}: {Why}")]
    public static partial void EventIgnored(ILogger logger, GpuDeviceEventKind kind, string uuid, string why);

    [LoggerMessage(EventId = LogEventIds.HealthHandlerFailed, Level = LogLevel.Error, Message = "A HealthChanged handler threw; handlers must not throw")]
    public static partial void HealthHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = LogEventIds.PollerStarted, Level = LogLevel.Debug, Message = "Telemetry poller started: every {Interval}, timeout {Timeout} per device")]
    public static partial void PollerStarted(ILogger logger, TimeSpan interval, TimeSpan timeout);

    [LoggerMessage(EventId = LogEventIds.PollerStopped, Level = LogLevel.Debug, Message = "Telemetry poller stopped")]
    public static partial void PollerStopped(ILogger logger);

    [LoggerMessage(EventId = LogEventIds.SampleFailed, Level = LogLevel.Warning, Message = "Reading device {Uuid} failed ({Failures} in a row; next try in {Backoff}): {Reason}")]
    public static partial void SampleFailed(ILogger logger, string uuid, int failures, TimeSpan backoff, string reason);

    [LoggerMessage(EventId = LogEventIds.SampleFailedUnexpectedly, Level = LogLevel.Warning, Message = "Reading device {Uuid} failed unexpectedly ({Failures} in a row; next try in {Backoff})")]
    public static partial void SampleFailedUnexpectedly(ILogger logger, Exception exception, string uuid, int failures, TimeSpan backoff);

    [LoggerMessage(EventId = LogEventIds.EventStreamFailed, Level = LogLevel.Error, Message = "The backend's event stream failed; watching again in {Delay}")]
    public static partial void EventStreamFailed(ILogger logger, Exception exception, TimeSpan delay);

    [LoggerMessage(EventId = LogEventIds.EventStreamEnded, Level = LogLevel.Debug, Message = "The backend's event stream ended")]
    public static partial void EventStreamEnded(ILogger logger);

    [LoggerMessage(EventId = LogEventIds.TickFailed, Level = LogLevel.Error, Message = "A telemetry poll tick failed")]
    public static partial void TickFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = LogEventIds.SampleStillPending, Level = LogLevel.Debug, Message = "Reading device {Uuid} abandoned at its timeout has not returned after {Elapsed}; counted as a failed reading ({Failures} in a row)")]
    public static partial void SampleStillPending(ILogger logger, string uuid, TimeSpan elapsed, int failures);

    [LoggerMessage(EventId = LogEventIds.EventStreamAbandoned, Level = LogLevel.Warning, Message = "The backend's event stream did not honour cancellation; the poller stopped without it")]
    public static partial void EventStreamAbandoned(ILogger logger);

    [LoggerMessage(EventId = LogEventIds.PollerStopTimedOut, Level = LogLevel.Warning, Message = "The telemetry poller's loops had not ended {Bound} after the stop; abandoned")]
    public static partial void PollerStopTimedOut(ILogger logger, TimeSpan bound);
}
