namespace Exo.Gpu.Clustering;

/// <summary>The steps of <see cref="GpuClusteringManager.StartAsync(CancellationToken)"/>, in order: where a start failed (<see cref="GpuClusterStartException.Step"/>).</summary>
public enum GpuClusterStartStep
{
    /// <summary>Making the backend from <see cref="GpuClusteringOptions.BackendChoice"/> (invalid options fail before any step, with an <see cref="ArgumentException"/>).</summary>
    Backend = 0,

    /// <summary>Discovering the devices and taking the first reading of each.</summary>
    Discovery = 1,

    /// <summary>Creating the telemetry collector.</summary>
    Telemetry = 2,

    /// <summary>Creating the device selector.</summary>
    Selector = 3,

    /// <summary>Starting the poller (device readings and the backend's events).</summary>
    Poller = 4,
}
