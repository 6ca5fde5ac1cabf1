namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>One attempt to read a device, for tests and diagnostics.</summary>
/// <param name="Slot">The device's slot.</param>
/// <param name="Uuid">The device's UUID.</param>
/// <param name="Result">How it ended.</param>
/// <param name="StartedAt">When the attempt started (the tick's time).</param>
internal readonly record struct PollOutcome(int Slot, string Uuid, PollResult Result, DateTimeOffset StartedAt);
