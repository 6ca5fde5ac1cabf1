namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>What <see cref="DeviceSlot.Record"/> did.</summary>
internal enum RecordOutcome
{
    /// <summary>Recorded; the judged health did not move.</summary>
    Recorded = 0,

    /// <summary>Recorded; the judged health may differ from the published one, so the collector re-judges it.</summary>
    HealthMayChange = 1,

    /// <summary>Not recorded: the device is lost.</summary>
    Lost = 2,
}
