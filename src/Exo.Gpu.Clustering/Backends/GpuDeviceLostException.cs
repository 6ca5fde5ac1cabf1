namespace Exo.Gpu.Clustering.Backends;

/// <summary>
/// The device is gone: it fell off the bus, was removed, or the driver reports it lost (NVML <c>GPU_IS_LOST</c>).
/// Further readings of it will fail until a later discovery finds it again.
/// </summary>
public sealed class GpuDeviceLostException : GpuBackendException
{
    /// <summary>Creates the exception.</summary>
    public GpuDeviceLostException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public GpuDeviceLostException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuDeviceLostException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a device.</summary>
    /// <param name="uuid">The UUID of the lost device.</param>
    /// <param name="message">What went wrong.</param>
    public GpuDeviceLostException(string uuid, string message)
        : base(message)
    {
        Uuid = uuid;
    }

    /// <summary>The UUID of the lost device, when known.</summary>
    public string? Uuid { get; }
}
