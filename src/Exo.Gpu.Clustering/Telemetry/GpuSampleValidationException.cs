namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// A reading passed to <see cref="TelemetryCollector.Record"/> is invalid. <see cref="Field"/> names the
/// <see cref="Devices.GpuSample"/> property and <see cref="ArgumentOutOfRangeException.ActualValue"/> holds its value;
/// nothing was recorded.
/// </summary>
public sealed class GpuSampleValidationException : ArgumentOutOfRangeException
{
    /// <summary>Creates the exception.</summary>
    public GpuSampleValidationException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public GpuSampleValidationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuSampleValidationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for one field of a reading.</summary>
    /// <param name="paramName">The parameter that held the reading.</param>
    /// <param name="field">The <see cref="Devices.GpuSample"/> property that is wrong.</param>
    /// <param name="value">Its value.</param>
    /// <param name="message">What is wrong with it.</param>
    public GpuSampleValidationException(string paramName, string field, object? value, string message)
        : base(paramName, value, message)
    {
        Field = field;
    }

    /// <summary>The <see cref="Devices.GpuSample"/> property that is wrong, e.g. <c>TemperatureC</c>.</summary>
    public string? Field { get; }
}
