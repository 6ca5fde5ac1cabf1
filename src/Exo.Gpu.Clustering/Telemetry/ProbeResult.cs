using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>How one <see cref="DeviceProbe"/> reading ended.</summary>
/// <param name="Result">The outcome: <see cref="PollResult.Sampled"/>, <see cref="PollResult.Failed"/>, <see cref="PollResult.TimedOut"/>, <see cref="PollResult.Lost"/> or <see cref="PollResult.Canceled"/>.</param>
/// <param name="Sample">The validated reading when <see cref="PollResult.Sampled"/>; default otherwise.</param>
/// <param name="Failure">Why the device gave no reading, in words (for its failure count and the log); <see langword="null"/> when sampled or cancelled.</param>
/// <param name="Error">The exception behind the failure (a <see cref="TimeoutException"/> for a timeout); <see langword="null"/> when sampled.</param>
internal readonly record struct ProbeResult(PollResult Result, GpuSample Sample, string? Failure, Exception? Error)
{
    /// <summary>Whether the failure was an exception no backend documents (logged with its stack).</summary>
    public bool Unexpected { get; init; }

    /// <summary>The backend's call, when it was abandoned at its deadline and has not returned yet; <see langword="null"/> otherwise.</summary>
    public Task? Pending { get; init; }
}
