namespace Exo.Gpu.Clustering.Diagnostics;

/// <summary>
/// The library's meter and every instrument on it, in one place: for each instrument its name, its unit
/// (<c>…Unit</c>) and its description (<c>…Description</c>). Device instruments follow the OpenTelemetry hardware
/// semantic conventions (<c>hw.*</c>); the scheduler's instruments are the library's own (<c>exo.gpu.*</c>).
/// </summary>
/// <remarks>
/// Listeners match these strings exactly: changing one is a breaking change for every dashboard built on them.
/// </remarks>
internal static class GpuInstruments
{
    /// <summary>The name of the library's meter, shared by the collector's and the selector's instruments.</summary>
    public const string MeterName = "Exo.Gpu.Clustering";

    /// <summary>Counter of leases granted.</summary>
    public const string LeaseGranted = "exo.gpu.lease.granted";

    /// <summary>The unit of <see cref="LeaseGranted"/>.</summary>
    public const string LeaseGrantedUnit = "{lease}";

    /// <summary>The description of <see cref="LeaseGranted"/>.</summary>
    public const string LeaseGrantedDescription = "Leases granted.";

    /// <summary>Counter of leases released by their holders before any revocation.</summary>
    public const string LeaseReleased = "exo.gpu.lease.released";

    /// <summary>The unit of <see cref="LeaseReleased"/>.</summary>
    public const string LeaseReleasedUnit = "{lease}";

    /// <summary>The description of <see cref="LeaseReleased"/>.</summary>
    public const string LeaseReleasedDescription = "Leases released by their holders before any revocation.";

    /// <summary>Counter of leases revoked.</summary>
    public const string LeaseRevoked = "exo.gpu.lease.revoked";

    /// <summary>The unit of <see cref="LeaseRevoked"/>.</summary>
    public const string LeaseRevokedUnit = "{lease}";

    /// <summary>The description of <see cref="LeaseRevoked"/>.</summary>
    public const string LeaseRevokedDescription = "Leases revoked because a device was lost or became unhealthy, or the cluster shut down.";

    /// <summary>
    /// Observable up-down counter of the leases held on each device (tagged <see cref="HwIdAttribute"/>): granted and
    /// not yet released, revoked ones included until their holders release them; a gang lease counts on each of its devices.
    /// </summary>
    public const string LeaseActive = "exo.gpu.lease.active";

    /// <summary>The unit of <see cref="LeaseActive"/>.</summary>
    public const string LeaseActiveUnit = "{lease}";

    /// <summary>The description of <see cref="LeaseActive"/>.</summary>
    public const string LeaseActiveDescription = "Leases granted and not yet released, per device (a gang lease counts on each of its devices).";

    /// <summary>
    /// Observable up-down counter of the bytes reserved on each device by the leases held on it (tagged
    /// <see cref="HwIdAttribute"/>; revoked leases count until released).
    /// </summary>
    public const string LeaseReserved = "exo.gpu.lease.reserved";

    /// <summary>The unit of <see cref="LeaseReserved"/>.</summary>
    public const string LeaseReservedUnit = "By";

    /// <summary>The description of <see cref="LeaseReserved"/>.</summary>
    public const string LeaseReservedDescription = "Bytes reserved by leases not yet released, per device.";

    /// <summary>
    /// Counter of <c>AcquireAsync</c> calls that stopped waiting before a grant, tagged <see cref="ErrorTypeAttribute"/>
    /// = <see cref="ErrorTypeTimeout"/> (the call's timeout ran out) or <see cref="ErrorTypeCancelled"/> (the caller's
    /// token fired). A call whose token had fired before it was made never waited and is not counted; neither is a
    /// waiter failed by shutdown.
    /// </summary>
    public const string LeaseAbandoned = "exo.gpu.lease.abandoned";

    /// <summary>The unit of <see cref="LeaseAbandoned"/>.</summary>
    public const string LeaseAbandonedUnit = "{request}";

    /// <summary>The description of <see cref="LeaseAbandoned"/>.</summary>
    public const string LeaseAbandonedDescription = "Lease requests that stopped waiting before a grant: timed out or cancelled.";

    /// <summary>Up-down counter of requests waiting for a lease.</summary>
    public const string LeaseQueueDepth = "exo.gpu.lease.queue.depth";

    /// <summary>The unit of <see cref="LeaseQueueDepth"/>.</summary>
    public const string LeaseQueueDepthUnit = "{request}";

    /// <summary>The description of <see cref="LeaseQueueDepth"/>.</summary>
    public const string LeaseQueueDepthDescription = "Requests waiting for a lease.";

    /// <summary>Histogram of the time from an <c>AcquireAsync</c> call to its grant.</summary>
    public const string LeaseWaitDuration = "exo.gpu.lease.wait.duration";

    /// <summary>The unit of <see cref="LeaseWaitDuration"/>.</summary>
    public const string LeaseWaitDurationUnit = "s";

    /// <summary>The description of <see cref="LeaseWaitDuration"/>.</summary>
    public const string LeaseWaitDurationDescription = "Time from an AcquireAsync call to its grant (0 when granted at once).";

    /// <summary>
    /// The bucket boundaries advised for <see cref="LeaseWaitDuration"/>, in seconds: 5 ms to 5 min. OpenTelemetry's
    /// default boundaries (0, 5, 10, 25, … 10000) assume milliseconds and would put every wait under 5 s in one bucket;
    /// these follow <c>http.server.request.duration</c>'s up to 10 s (short waits of inference requests), then go on to
    /// the minutes a batch job may queue for. A view configured in the SDK overrides them.
    /// </summary>
    public static IReadOnlyList<double> LeaseWaitDurationBuckets { get; } = Array.AsReadOnly(new[] { 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 30, 60, 120, 300 });

    /// <summary>Gauge of each device's utilization, as a fraction.</summary>
    public const string GpuUtilization = "hw.gpu.utilization";

    /// <summary>The unit of <see cref="GpuUtilization"/>.</summary>
    public const string GpuUtilizationUnit = "1";

    /// <summary>The description of <see cref="GpuUtilization"/>.</summary>
    public const string GpuUtilizationDescription = "Fraction of time the GPU ran a kernel (NVML utilization / 100).";

    /// <summary>Observable up-down counter of each device's memory in use.</summary>
    public const string GpuMemoryUsage = "hw.gpu.memory.usage";

    /// <summary>The unit of <see cref="GpuMemoryUsage"/>.</summary>
    public const string GpuMemoryUsageUnit = "By";

    /// <summary>The description of <see cref="GpuMemoryUsage"/>.</summary>
    public const string GpuMemoryUsageDescription = "GPU memory in use.";

    /// <summary>Observable up-down counter of each device's total memory.</summary>
    public const string GpuMemoryLimit = "hw.gpu.memory.limit";

    /// <summary>The unit of <see cref="GpuMemoryLimit"/>.</summary>
    public const string GpuMemoryLimitUnit = "By";

    /// <summary>The description of <see cref="GpuMemoryLimit"/>.</summary>
    public const string GpuMemoryLimitDescription = "GPU memory in total.";

    /// <summary>Gauge of each device's core temperature.</summary>
    public const string Temperature = "hw.temperature";

    /// <summary>The unit of <see cref="Temperature"/>.</summary>
    public const string TemperatureUnit = "Cel";

    /// <summary>The description of <see cref="Temperature"/>.</summary>
    public const string TemperatureDescription = "GPU core temperature.";

    /// <summary>Gauge of each device's power draw.</summary>
    public const string Power = "hw.power";

    /// <summary>The unit of <see cref="Power"/>.</summary>
    public const string PowerUnit = "W";

    /// <summary>The description of <see cref="Power"/>.</summary>
    public const string PowerDescription = "GPU power draw.";

    /// <summary>
    /// Observable up-down counter of each device's operational status, as the OpenTelemetry <c>hw.status</c> of a GPU:
    /// one measurement per <see cref="HwStateAttribute"/> (<see cref="HwStateOk"/>, <see cref="HwStateDegraded"/>,
    /// <see cref="HwStateFailed"/>), 1 for the device's current state and 0 for the others; all 0 while its health is
    /// unknown (no fresh reading). Healthy is ok, Degraded degraded, Unhealthy and Lost failed. The library predicts no
    /// failure, so <c>predicted_failure</c> is not reported.
    /// </summary>
    public const string HwStatus = "hw.status";

    /// <summary>The unit of <see cref="HwStatus"/>.</summary>
    public const string HwStatusUnit = "1";

    /// <summary>The description of <see cref="HwStatus"/>.</summary>
    public const string HwStatusDescription = "Operational status of the GPU: 1 for its current hw.state, 0 for the others.";

    /// <summary>
    /// Observable counter of each device's ECC errors since its driver loaded (NVML's volatile counters: they restart
    /// from 0 when the driver reloads), as the OpenTelemetry <c>hw.errors</c> of a GPU, tagged
    /// <see cref="ErrorTypeAttribute"/> = <see cref="ErrorTypeCorrected"/> or <see cref="ErrorTypeUncorrected"/>.
    /// Reported only from a fresh reading that carries the count (GPUs without ECC report nothing).
    /// </summary>
    public const string HwErrors = "hw.errors";

    /// <summary>The unit of <see cref="HwErrors"/>.</summary>
    public const string HwErrorsUnit = "{error}";

    /// <summary>The description of <see cref="HwErrors"/>.</summary>
    public const string HwErrorsDescription = "ECC errors of the GPU since its driver loaded, by error.type (corrected, uncorrected).";

    /// <summary>The attribute naming the device a measurement describes: its UUID.</summary>
    public const string HwIdAttribute = "hw.id";

    /// <summary>The attribute carrying the device's product name.</summary>
    public const string HwNameAttribute = "hw.name";

    /// <summary>The attribute carrying the device's vendor (recommended by the conventions for GPU metrics).</summary>
    public const string HwVendorAttribute = "hw.vendor";

    /// <summary>The attribute carrying the device's model, its product name (recommended by the conventions for GPU metrics).</summary>
    public const string HwModelAttribute = "hw.model";

    /// <summary>The attribute carrying the driver version, where the backend knows it (recommended by the conventions for GPU metrics).</summary>
    public const string HwDriverVersionAttribute = "hw.driver_version";

    /// <summary>The attribute carrying the state a <see cref="HwStatus"/> measurement is for.</summary>
    public const string HwStateAttribute = "hw.state";

    /// <summary>The <see cref="HwStateAttribute"/> of a Healthy device.</summary>
    public const string HwStateOk = "ok";

    /// <summary>The <see cref="HwStateAttribute"/> of a Degraded device.</summary>
    public const string HwStateDegraded = "degraded";

    /// <summary>The <see cref="HwStateAttribute"/> of an Unhealthy or Lost device.</summary>
    public const string HwStateFailed = "failed";

    /// <summary>The attribute carrying the kind of error counted (<see cref="HwErrors"/>, <see cref="LeaseAbandoned"/>).</summary>
    public const string ErrorTypeAttribute = "error.type";

    /// <summary>The <see cref="ErrorTypeAttribute"/> of corrected (single-bit) ECC errors.</summary>
    public const string ErrorTypeCorrected = "corrected";

    /// <summary>The <see cref="ErrorTypeAttribute"/> of uncorrected (double-bit) ECC errors.</summary>
    public const string ErrorTypeUncorrected = "uncorrected";

    /// <summary>The <see cref="ErrorTypeAttribute"/> of a lease request whose timeout ran out.</summary>
    public const string ErrorTypeTimeout = "timeout";

    /// <summary>The <see cref="ErrorTypeAttribute"/> of a lease request its caller cancelled.</summary>
    public const string ErrorTypeCancelled = "cancelled";

    /// <summary>The attribute carrying the kind of hardware (<c>gpu</c>): required on <c>hw.status</c>, <c>hw.errors</c> and the shared <c>hw.temperature</c> and <c>hw.power</c>.</summary>
    public const string HwTypeAttribute = "hw.type";

    /// <summary>The value of <see cref="HwTypeAttribute"/> for a GPU.</summary>
    public const string HwTypeGpu = "gpu";
}
