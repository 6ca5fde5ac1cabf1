namespace Exo.Gpu.Clustering;

/// <summary>The steps of <see cref="GpuClusteringManager.StartAsync(CancellationToken)"/>, in order: where a start failed (<see cref="GpuClusterStartException.Step"/>).</summary>
public enum GpuClusterStartStep
{
    /// <summary>Checking the options.</summary>
    Options = 0,

    /// <summary>Making the backend from <see cref="GpuClusteringOptions.BackendChoice"/>.</summary>
    Backend = 1,

    /// <summary>Discovering the devices and taking the first reading of each.</summary>
    Discovery = 2,

    /// <summary>Creating the telemetry collector.</summary>
    Telemetry = 3,

    /// <summary>Creating the device selector.</summary>
    Selector = 4,

    /// <summary>Starting the poller (device readings and the backend's events).</summary>
    Poller = 5,
}
