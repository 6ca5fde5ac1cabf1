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

    /// <summary>Up-down counter of leases granted and not yet released.</summary>
    public const string LeaseActive = "exo.gpu.lease.active";

    /// <summary>The unit of <see cref="LeaseActive"/>.</summary>
    public const string LeaseActiveUnit = "{lease}";

    /// <summary>The description of <see cref="LeaseActive"/>.</summary>
    public const string LeaseActiveDescription = "Leases granted and not yet released.";

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

    /// <summary>The attribute naming the device a measurement describes: its UUID.</summary>
    public const string HwIdAttribute = "hw.id";

    /// <summary>The attribute carrying the device's product name.</summary>
    public const string HwNameAttribute = "hw.name";

    /// <summary>The attribute carrying the kind of hardware the shared <c>hw.temperature</c> and <c>hw.power</c> describe.</summary>
    public const string HwTypeAttribute = "hw.type";

    /// <summary>The value of <see cref="HwTypeAttribute"/> for a GPU.</summary>
    public const string HwTypeGpu = "gpu";
}
