namespace Exo.Gpu.Clustering.Backends;

/// <summary>The base of the exceptions a backend throws about a device or itself.</summary>
public class GpuBackendException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GpuBackendException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public GpuBackendException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuBackendException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

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

/// <summary>
/// One reading of a device failed, but the device is not known to be lost (for NVML: any error other than
/// <c>NOT_SUPPORTED</c> and <c>GPU_IS_LOST</c>). <see cref="ErrorName"/> and <see cref="ErrorCode"/> carry the native error.
/// </summary>
public sealed class GpuSamplingException : GpuBackendException
{
    /// <summary>Creates the exception.</summary>
    public GpuSamplingException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public GpuSamplingException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuSamplingException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a native error.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="errorName">The native error's name, e.g. <c>NVML_ERROR_NO_PERMISSION</c>.</param>
    /// <param name="errorCode">The native error code.</param>
    public GpuSamplingException(string message, string errorName, int errorCode)
        : base(message)
    {
        ErrorName = errorName;
        ErrorCode = errorCode;
    }

    /// <summary>The native error's name, when the failure came from a native call.</summary>
    public string? ErrorName { get; }

    /// <summary>The native error code, when the failure came from a native call.</summary>
    public int? ErrorCode { get; }
}

/// <summary>
/// The backend cannot be used at all: its native library is missing or fails to initialize, or discovery failed.
/// The message names what was searched or called.
/// </summary>
public sealed class GpuBackendUnavailableException : GpuBackendException
{
    /// <summary>Creates the exception.</summary>
    public GpuBackendUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public GpuBackendUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuBackendUnavailableException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
