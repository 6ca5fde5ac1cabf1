namespace Exo.Gpu.Clustering.Diagnostics;

/// <summary>
/// The event id of every log message of the library, one constant per message, in one range per area: the manager
/// 100–199 (<c>ManagerLog</c>), telemetry 200–299 (<c>TelemetryLog</c>: the collector from 200, the poller from 220),
/// scheduling 300–399 (<c>SchedulingLog</c>), the NVML backend 400–499 (<c>NvmlLog</c>).
/// </summary>
/// <remarks>
/// An id, once used, stays with its message: log queries and alerts filter on it. A new message takes the next free id
/// of its area; a removed message's id is not reused.
/// </remarks>
internal static class LogEventIds
{
    /// <summary>The cluster started.</summary>
    public const int Started = 100;

    /// <summary>A device was left out because its first reading failed.</summary>
    public const int DeviceExcluded = 101;

    /// <summary>A backend's discovery failed.</summary>
    public const int BackendDiscoveryFailed = 102;

    /// <summary>A device joined or rejoined the cluster.</summary>
    public const int DeviceAdded = 103;

    /// <summary>A device is no longer discovered.</summary>
    public const int DeviceVanished = 104;

    /// <summary>Rediscovery failed.</summary>
    public const int RediscoveryFailed = 105;

    /// <summary>The cluster is shutting down.</summary>
    public const int ShuttingDown = 106;

    /// <summary>Shutdown stopped waiting for lease holders.</summary>
    public const int DrainTimedOut = 107;

    /// <summary>The cluster stopped.</summary>
    public const int Stopped = 108;

    /// <summary>A host's event handler threw.</summary>
    public const int HandlerFailed = 109;

    /// <summary>Stopping a component failed during shutdown.</summary>
    public const int StopFailed = 110;

    /// <summary>A component did not stop within the stop timeout and was abandoned.</summary>
    public const int StopAbandoned = 111;

    /// <summary>The automatic backend choice fell back to the simulated cluster.</summary>
    public const int FellBackToSimulated = 112;

    /// <summary>A device's health changed (the level follows the new health).</summary>
    public const int HealthChanged = 200;

    /// <summary>A device was added to telemetry.</summary>
    public const int TelemetryDeviceAdded = 201;

    /// <summary>A lost device rejoined telemetry.</summary>
    public const int DeviceRejoined = 202;

    /// <summary>A device was lost.</summary>
    public const int DeviceLost = 203;

    /// <summary>A critical device event (Xid, double-bit ECC) arrived.</summary>
    public const int CriticalEvent = 204;

    /// <summary>A device event was ignored.</summary>
    public const int EventIgnored = 205;

    /// <summary>A health-change handler threw.</summary>
    public const int HealthHandlerFailed = 206;

    /// <summary>The telemetry poller started.</summary>
    public const int PollerStarted = 220;

    /// <summary>The telemetry poller stopped.</summary>
    public const int PollerStopped = 221;

    /// <summary>Reading a device failed.</summary>
    public const int SampleFailed = 222;

    /// <summary>Reading a device failed with an unexpected exception.</summary>
    public const int SampleFailedUnexpectedly = 223;

    /// <summary>The backend's event stream failed.</summary>
    public const int EventStreamFailed = 224;

    /// <summary>The backend's event stream ended.</summary>
    public const int EventStreamEnded = 225;

    /// <summary>A poll tick failed.</summary>
    public const int TickFailed = 226;

    /// <summary>A device's reading abandoned at its timeout has still not returned at a later tick (counted as a failure).</summary>
    public const int SampleStillPending = 227;

    /// <summary>The backend's event stream ignored the poller's cancellation and was abandoned.</summary>
    public const int EventStreamAbandoned = 228;

    /// <summary>The poller's loops had not ended within the stop bound and were abandoned.</summary>
    public const int PollerStopTimedOut = 229;

    /// <summary>Leases on a device were revoked.</summary>
    public const int LeasesRevoked = 301;

    /// <summary>The scheduler is shutting down.</summary>
    public const int SchedulerShuttingDown = 302;

    /// <summary>The scheduler saw the device set change.</summary>
    public const int DeviceSetChanged = 303;

    /// <summary>A waiting request can no longer be served.</summary>
    public const int WaiterFailed = 304;

    /// <summary>The scheduler saw a device's health change.</summary>
    public const int SchedulerHealthChanged = 305;

    /// <summary>Handling a health change in the scheduler failed.</summary>
    public const int HealthChangeFailed = 306;

    /// <summary>The NVML backend is ready.</summary>
    public const int NvmlReady = 401;

    /// <summary>The CUDA driver library is unavailable.</summary>
    public const int CudaUnavailable = 402;

    /// <summary>An NVML device was skipped during discovery.</summary>
    public const int DeviceSkipped = 403;

    /// <summary>A CUDA ordinal matches no NVML device.</summary>
    public const int CudaDeviceUnmatched = 404;

    /// <summary>A device fact could not be read.</summary>
    public const int FactUnavailable = 405;

    /// <summary>An NVML call is replaced by an older form.</summary>
    public const int FallingBack = 406;

    /// <summary>NVML discovery finished.</summary>
    public const int Discovered = 407;

    /// <summary>NVML events are unavailable.</summary>
    public const int EventsUnavailable = 410;

    /// <summary>A device cannot be watched for events.</summary>
    public const int EventRegistrationFailed = 411;

    /// <summary>An application-error Xid was not reported.</summary>
    public const int XidSkipped = 412;

    /// <summary>A critical Xid was seen.</summary>
    public const int CriticalXid = 413;

    /// <summary>The event wait reports a lost GPU.</summary>
    public const int GpuLost = 414;

    /// <summary>The event wait failed.</summary>
    public const int EventWaitFailed = 415;

    /// <summary>An event for an unwatched device handle was dropped.</summary>
    public const int UnknownEventDevice = 416;

    /// <summary>The NVML event set could not be created.</summary>
    public const int EventSetCreateFailed = 417;

    /// <summary><c>nvmlShutdown</c> was skipped because NVML calls were still running.</summary>
    public const int ShutdownSkipped = 420;

    /// <summary>A sampling call answered NO_PERMISSION or NO_DATA: that value is unknown (logged once per device and call).</summary>
    public const int NvmlValueUnavailable = 408;
}
