namespace Exo.Gpu.Clustering.Backends;

/// <summary>An asynchronous event a backend observed on a device (NVML events, simulated faults).</summary>
/// <param name="Uuid">The device's UUID.</param>
/// <param name="Kind">What happened.</param>
/// <param name="Code">The Xid number for <see cref="GpuDeviceEventKind.CriticalXid"/>, else 0.</param>
/// <param name="Timestamp">When the backend observed it.</param>
public readonly record struct GpuDeviceEvent(string Uuid, GpuDeviceEventKind Kind, long Code, DateTimeOffset Timestamp);
