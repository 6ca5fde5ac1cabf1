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
    /// <param name="step">The step that failed.</param>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public GpuClusterStartException(GpuClusterStartStep step, string message, Exception? innerException)
        : base($"Starting the GPU cluster failed at {StepName(step)}: {message}", innerException)
    {
        Step = step;
    }

    /// <summary>The step that failed; <see langword="null"/> when the exception was made without one.</summary>
    public GpuClusterStartStep? Step { get; }

    private static string StepName(GpuClusterStartStep step) => step switch
    {
        GpuClusterStartStep.Backend => "backend",
        GpuClusterStartStep.Discovery => "discovery",
        GpuClusterStartStep.Telemetry => "telemetry",
        GpuClusterStartStep.Selector => "selector",
        GpuClusterStartStep.Poller => "poller",
        _ => step.ToString(),
    };
}
