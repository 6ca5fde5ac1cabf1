using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering;

/// <summary>A device joined the cluster (first seen, or back after being lost), or left it.</summary>
public sealed class GpuDeviceEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="device">The device.</param>
    /// <param name="rejoined">Whether the device had been lost before.</param>
    /// <param name="reason">Why, in words.</param>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> or <paramref name="reason"/> is <see langword="null"/>.</exception>
    public GpuDeviceEventArgs(GpuDevice device, bool rejoined, string reason)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(reason);
        Device = device;
        Rejoined = rejoined;
        Reason = reason;
    }

    /// <summary>The device.</summary>
    public GpuDevice Device { get; }

    /// <summary>For an added device: whether it had been lost before and came back with a fresh history.</summary>
    public bool Rejoined { get; }

    /// <summary>Why, in words.</summary>
    public string Reason { get; }
}
