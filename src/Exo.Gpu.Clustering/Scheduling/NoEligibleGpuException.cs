namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// No device (or not enough devices, for a gang) satisfies a request. The message names the device closest to
/// qualifying and why it does not; <see cref="Explanation"/> holds every device's verdict.
/// </summary>
public sealed class NoEligibleGpuException : Exception
{
    /// <summary>Creates the exception.</summary>
    public NoEligibleGpuException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public NoEligibleGpuException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public NoEligibleGpuException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception from an explanation.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="explanation">Every device's verdict.</param>
    internal NoEligibleGpuException(string message, GpuSelectionExplanation explanation)
        : base(message)
    {
        Explanation = explanation;
    }

    /// <summary>Every device's verdict when the request was judged, or <see langword="null"/> when not known.</summary>
    public GpuSelectionExplanation? Explanation { get; }

    /// <summary>The rejected device closest to qualifying and its reasons, or <see langword="null"/> when there is no device at all.</summary>
    public GpuDeviceVerdict? Nearest => Explanation?.Nearest;
}
