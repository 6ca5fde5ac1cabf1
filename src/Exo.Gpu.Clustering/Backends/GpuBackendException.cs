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
