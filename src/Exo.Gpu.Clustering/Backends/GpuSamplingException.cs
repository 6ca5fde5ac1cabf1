namespace Exo.Gpu.Clustering.Backends;

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
