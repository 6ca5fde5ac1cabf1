using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering;

/// <summary>
/// Settings of a <see cref="GpuClusteringManager"/>: plain settable properties, bindable from configuration (keys follow
/// the property paths, <c>Selector:MaxLeasesPerDevice</c>). Validated once, when the manager starts, with the nested
/// options: one <see cref="ArgumentException"/> lists every invalid value by its path
/// (<c>Selector.MaxLeasesPerDevice must be at least 1, or null for no limit; it is 0.</c>). Only data: the services
/// (clock, logging, metrics, backends) are given apart, in <see cref="GpuClusteringServices"/>.
/// </summary>
public sealed class GpuClusteringOptions
{
    /// <summary>The default of <see cref="RediscoveryInterval"/>: 30 s.</summary>
    public static readonly TimeSpan DefaultRediscoveryInterval = TimeSpan.FromSeconds(30);

    /// <summary>The longest <see cref="RediscoveryInterval"/>: one day (inclusive).</summary>
    public static readonly TimeSpan MaxRediscoveryInterval = TimeSpan.FromDays(1);

    /// <summary>The default of <see cref="DrainTimeout"/>: 10 s.</summary>
    public static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The longest <see cref="DrainTimeout"/>: one hour (inclusive).</summary>
    public static readonly TimeSpan MaxDrainTimeout = TimeSpan.FromHours(1);

    /// <summary>The default of <see cref="DiscoveryTimeout"/>: 30 s.</summary>
    public static readonly TimeSpan DefaultDiscoveryTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The longest <see cref="DiscoveryTimeout"/>: one hour (inclusive).</summary>
    public static readonly TimeSpan MaxDiscoveryTimeout = TimeSpan.FromHours(1);

    /// <summary>The default of <see cref="StopTimeout"/>: 5 s.</summary>
    public static readonly TimeSpan DefaultStopTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The longest <see cref="StopTimeout"/>: one hour (inclusive).</summary>
    public static readonly TimeSpan MaxStopTimeout = TimeSpan.FromHours(1);

    /// <summary>
    /// The backend made when <see cref="GpuClusteringServices.Backends"/> is empty; <see cref="GpuBackendChoice.Auto"/> by default (NVML when
    /// it works, else the simulated cluster, with a Warning in the log and the reason in
    /// <see cref="GpuClusteringManager.BackendFallbackReason"/>). A host that expects GPUs sets
    /// <see cref="GpuBackendChoice.Nvml"/>: then a host without a usable driver fails to start instead of scheduling
    /// onto simulated devices.
    /// </summary>
    public GpuBackendChoice BackendChoice { get; set; } = GpuBackendChoice.Auto;

    /// <summary>Settings of the NVML backend made from <see cref="BackendChoice"/>; defaults when <see langword="null"/>.</summary>
    public NvmlGpuBackendOptions? NvmlOptions { get; set; }

    /// <summary>Settings of the simulated backend made from <see cref="BackendChoice"/>; defaults when <see langword="null"/> (its clock is <see cref="GpuClusteringServices.TimeProvider"/>).</summary>
    public SimulatedGpuBackendOptions? SimulatedOptions { get; set; }

    /// <summary>Telemetry history, staleness, health rules and the poll cadence.</summary>
    public TelemetryOptions Telemetry { get; set; } = new();

    /// <summary>Selection strategy, score weights, memory headroom and lease limits.</summary>
    public DeviceSelectorOptions Selector { get; set; } = new();

    /// <summary>Whether the background poller reads every device each <see cref="TelemetryOptions.PollInterval"/>; <see langword="true"/> by default. When off, telemetry moves only through <see cref="GpuClusteringManager.RefreshTelemetryAsync"/>.</summary>
    public bool EnablePoller { get; set; } = true;

    /// <summary>
    /// How often devices are discovered again (lost devices rejoin, new ones are added); more than 0 and at most
    /// <see cref="MaxRediscoveryInterval"/> (one day), 30 s by default, <see langword="null"/> for on demand only.
    /// </summary>
    public TimeSpan? RediscoveryInterval { get; set; } = DefaultRediscoveryInterval;

    /// <summary>
    /// How long shutdown waits for lease holders to release their revoked leases; 0 to <see cref="MaxDrainTimeout"/>
    /// (one hour), 10 s by default.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = DefaultDrainTimeout;

    /// <summary>
    /// How long one backend's discovery may take, on the manager's clock (<see cref="GpuClusteringServices.TimeProvider"/>): at the start (and the NVML
    /// probe of <see cref="GpuBackendChoice.Auto"/>), in <see cref="GpuClusteringManager.RediscoverAsync"/> and periodic
    /// rediscovery, and in <see cref="GpuClusteringManager.ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>. When it passes, the discovery's token fires
    /// and the manager stops waiting for it, even if the backend ignores its token (the call is abandoned): the start
    /// fails (<see cref="GpuClusterStartException"/>, inner <see cref="TimeoutException"/>), a rediscovery throws
    /// <see cref="GpuBackendUnavailableException"/>, and with several backends (not <see cref="StrictStart"/>) only that
    /// backend is left out. More than 0 and at most <see cref="MaxDiscoveryTimeout"/> (one hour), 30 s by default.
    /// </summary>
    public TimeSpan DiscoveryTimeout { get; set; } = DefaultDiscoveryTimeout;

    /// <summary>
    /// How long shutdown waits, after the drain (<see cref="DrainTimeout"/>), for the parts to stop: calls into the
    /// backends still in flight, the poller, and the backends' disposal, all within one deadline on
    /// the manager's clock (<see cref="GpuClusteringServices.TimeProvider"/>). What has not stopped by then is logged and abandoned, so
    /// <see cref="GpuClusteringManager.ShutdownAsync"/> returns within <see cref="DrainTimeout"/> + <see cref="StopTimeout"/>
    /// whatever a backend does. The same bound applies to the clean-up of a failed start and of
    /// <see cref="GpuClusteringManager.ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>. 0 to <see cref="MaxStopTimeout"/> (one hour), 5 s by default.
    /// </summary>
    public TimeSpan StopTimeout { get; set; } = DefaultStopTimeout;

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

    /// <summary>
    /// Every invalid value of these options and the nested ones, each with its property path, in a fixed order; empty when
    /// they are valid. The manager runs the same checks when it is constructed (and throws one
    /// <see cref="ArgumentException"/> listing them); a host runs them to report bad configuration by its keys.
    /// </summary>
    /// <returns>The errors.</returns>
    public IReadOnlyList<GpuClusteringOptionsError> Validate() => [.. Errors().Select(GpuClusteringOptionsError.FromSentence)];

    /// <summary>Every problem with these options and the nested ones, each named by its path; empty when they are valid.</summary>
    /// <returns>The errors, one sentence each.</returns>
    internal List<string> Errors()
    {
        var errors = new List<string>();
        GpuClusteringOptionsValidator.Validate(this, string.Empty, errors);
        return errors;
    }
}
