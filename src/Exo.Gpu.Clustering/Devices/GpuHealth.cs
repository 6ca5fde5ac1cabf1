namespace Exo.Gpu.Clustering.Devices;

/// <summary>The judged condition of one device.</summary>
/// <remarks>
/// Only <see cref="Healthy"/> devices are selected by default; <see cref="Degraded"/> ones may be allowed by a request.
/// </remarks>
public enum GpuHealth
{
    /// <summary>No fresh reading: the device has not been sampled yet, or its last reading is older than the staleness limit.</summary>
    Unknown = 0,

    /// <summary>Readings are fresh and every health rule passes.</summary>
    Healthy = 1,

    /// <summary>The device works but a rule warns (running hot, near its power limit, throttled, or failing to report some readings).</summary>
    Degraded = 2,

    /// <summary>The device should not receive work (critical temperature, uncorrectable ECC errors, a critical Xid, repeated sampling failures).</summary>
    Unhealthy = 3,

    /// <summary>The backend reported the device lost (fallen off the bus, removed). Left only when the device is discovered again.</summary>
    Lost = 4,
}
