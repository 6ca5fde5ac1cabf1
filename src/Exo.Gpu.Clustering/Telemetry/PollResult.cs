using Exo.Gpu.Clustering.Backends;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>How one attempt to read a device ended.</summary>
internal enum PollResult
{
    /// <summary>Read and recorded.</summary>
    Sampled = 0,

    /// <summary>The backend threw (<see cref="GpuSamplingException"/> or anything unexpected), or returned an invalid reading.</summary>
    Failed = 1,

    /// <summary>The reading took longer than <see cref="TelemetryOptions.SampleTimeout"/>.</summary>
    TimedOut = 2,

    /// <summary>The backend reported the device lost.</summary>
    Lost = 3,

    /// <summary>The poller stopped while the reading was in flight.</summary>
    Canceled = 4,

    /// <summary>Read, but not recorded: the device was lost meanwhile or the collector disposed.</summary>
    Dropped = 5,
}
