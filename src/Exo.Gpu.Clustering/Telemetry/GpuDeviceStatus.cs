using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>What the collector knows about one device now.</summary>
/// <param name="Device">The device.</param>
/// <param name="Health">Its judged health (<see cref="GpuHealth.Unknown"/> when it has no fresh reading).</param>
/// <param name="Latest">Its newest reading, fresh or not, or <see langword="null"/> when none is kept.</param>
/// <param name="IsFresh">Whether <paramref name="Latest"/> is younger than the staleness limit (never for a lost device).</param>
/// <param name="ConsecutiveFailures">Failed readings since the last successful one.</param>
public sealed record GpuDeviceStatus(GpuDevice Device, GpuHealth Health, GpuSample? Latest, bool IsFresh, int ConsecutiveFailures)
{
    /// <summary>
    /// Why the device is not <see cref="GpuHealth.Healthy"/>, in words (e.g. <c>temperature 92 °C (Unhealthy from 90 °C until
    /// below 85 °C)</c>, <c>2 uncorrected ECC errors</c>, <c>no reading yet</c>), judged with <see cref="Health"/>;
    /// <see langword="null"/> for a Healthy device.
    /// </summary>
    public string? Reason { get; init; }
}
