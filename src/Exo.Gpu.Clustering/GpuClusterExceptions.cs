namespace Exo.Gpu.Clustering;

/// <summary>
/// Starting a <see cref="GpuClusteringManager"/> failed. Everything started before the failure was stopped and
/// disposed; <see cref="Exception.InnerException"/> holds the cause and <see cref="Step"/> names where it happened.
/// </summary>
public sealed class GpuClusterStartException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GpuClusterStartException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public GpuClusterStartException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuClusterStartException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a failed step.</summary>
    /// <param name="step">The step that failed, e.g. <c>discovery</c>.</param>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuClusterStartException(string step, string message, Exception? innerException)
        : base($"Starting the GPU cluster failed at {step}: {message}", innerException)
    {
        Step = step;
    }

    /// <summary>The step that failed: <c>options</c>, <c>backend</c>, <c>discovery</c>, <c>telemetry</c>, <c>selector</c> or <c>poller</c>.</summary>
    public string? Step { get; }
}

/// <summary>A device joined the cluster (first seen, or back after being lost), or left it.</summary>
public sealed class GpuDeviceEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="device">The device.</param>
    /// <param name="rejoined">Whether the device had been lost before.</param>
    /// <param name="reason">Why, in words.</param>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> or <paramref name="reason"/> is <see langword="null"/>.</exception>
    public GpuDeviceEventArgs(Devices.GpuDevice device, bool rejoined, string reason)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(reason);
        Device = device;
        Rejoined = rejoined;
        Reason = reason;
    }

    /// <summary>The device.</summary>
    public Devices.GpuDevice Device { get; }

    /// <summary>For an added device: whether it had been lost before and came back with a fresh history.</summary>
    public bool Rejoined { get; }

    /// <summary>Why, in words.</summary>
    public string Reason { get; }
}
