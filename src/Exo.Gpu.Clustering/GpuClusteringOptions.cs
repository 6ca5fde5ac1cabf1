using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering;

/// <summary>Settings of a <see cref="GpuClusteringManager"/>. Validated once, when the manager starts.</summary>
public sealed class GpuClusteringOptions
{
    /// <summary>
    /// The backends whose devices form the cluster; the manager owns them and disposes them when it stops (or when
    /// its start fails). When empty, the manager makes one from <see cref="BackendChoice"/>.
    /// </summary>
    public IList<IGpuBackend> Backends { get; } = new List<IGpuBackend>();

    /// <summary>The backend made when <see cref="Backends"/> is empty; <see cref="GpuBackendChoice.Auto"/> by default (NVML when it works, else the simulated cluster).</summary>
    public GpuBackendChoice BackendChoice { get; set; } = GpuBackendChoice.Auto;

    /// <summary>Settings of the NVML backend made from <see cref="BackendChoice"/>; defaults when <see langword="null"/>.</summary>
    public NvmlGpuBackendOptions? NvmlOptions { get; set; }

    /// <summary>Settings of the simulated backend made from <see cref="BackendChoice"/>; defaults when <see langword="null"/> (its clock is <see cref="TimeProvider"/>).</summary>
    public SimulatedGpuBackendOptions? SimulatedOptions { get; set; }

    /// <summary>Telemetry history, staleness, health rules and the poll cadence.</summary>
    public TelemetryOptions Telemetry { get; set; } = new();

    /// <summary>Selection strategy, score weights, memory headroom and lease limits.</summary>
    public DeviceSelectorOptions Selector { get; set; } = new();

    /// <summary>Whether the background poller reads every device each <see cref="TelemetryOptions.PollInterval"/>; <see langword="true"/> by default. When off, telemetry moves only through <see cref="GpuClusteringManager.RefreshTelemetryAsync"/>.</summary>
    public bool EnablePoller { get; set; } = true;

    /// <summary>How often devices are discovered again (lost devices rejoin, new ones are added); 30 s by default, <see langword="null"/> for on demand only.</summary>
    public TimeSpan? RediscoveryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long shutdown waits for lease holders to release their revoked leases; 0 or more, 10 s by default.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When <see langword="true"/>, a device whose first reading fails, or a backend whose discovery fails, fails the
    /// start; when <see langword="false"/> (the default) it is left out and logged, and a later discovery may add it.
    /// </summary>
    public bool StrictStart { get; set; }

    /// <summary>
    /// When <see langword="true"/>, a device whose first reading fails still joins the cluster, with the failure
    /// recorded (<see cref="Devices.GpuHealth.Unknown"/>, or <see cref="Devices.GpuHealth.Lost"/> when the backend says so):
    /// it is listed and explained but never selected until a reading succeeds (the poller keeps trying it). When
    /// <see langword="false"/> (the default) it is left out and logged, and a later discovery may add it.
    /// <see cref="StrictStart"/> wins over this.
    /// </summary>
    public bool KeepUnreadableDevices { get; set; }

    /// <summary>The clock of every timer; <see cref="TimeProvider.System"/> by default.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where to log; nothing is logged when <see langword="null"/>.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Creates the <c>Exo.Gpu.Clustering</c> meter; the manager makes its own when <see langword="null"/>.</summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>Every problem with these options, empty when they are valid.</summary>
    internal List<string> Validate()
    {
        var errors = new List<string>();
        if (Backends.Any(b => b is null))
        {
            errors.Add("Backends must not hold null.");
        }

        if (Backends.Distinct().Count() != Backends.Count)
        {
            errors.Add("Backends must not hold the same backend twice.");
        }

        if (!Enum.IsDefined(BackendChoice))
        {
            errors.Add($"BackendChoice {BackendChoice} is not defined.");
        }

        if (TimeProvider is null)
        {
            errors.Add("TimeProvider must not be null.");
        }

        if (Selector is null)
        {
            errors.Add("Selector must not be null.");
        }

        if (Telemetry is null)
        {
            errors.Add("Telemetry must not be null.");
        }
        else
        {
            try
            {
                TelemetrySettings.From(Telemetry, nameof(Telemetry));
            }
            catch (ArgumentException e)
            {
                errors.Add(e.Message);
            }
        }

        if (RediscoveryInterval is TimeSpan r && (r <= TimeSpan.Zero || r > TimeSpan.FromDays(1)))
        {
            errors.Add($"RediscoveryInterval must be more than 0 and at most one day, or null; it is {r}.");
        }

        if (DrainTimeout < TimeSpan.Zero || DrainTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"DrainTimeout must be from 0 to one hour; it is {DrainTimeout}.");
        }

        return errors;
    }
}
