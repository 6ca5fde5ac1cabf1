namespace Exo.Gpu.Clustering.Backends;

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
