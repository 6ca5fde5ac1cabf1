namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// Settings of a <see cref="DeviceSelector"/>: plain settable properties, bindable from configuration. The selector
/// validates them once, when it is created (every invalid value in one <see cref="ArgumentException"/>), and copies
/// them: later changes to this object do not affect a selector already created.
/// </summary>
public sealed class DeviceSelectorOptions
{
    /// <summary>The default of <see cref="MemoryHeadroomBytes"/>: 512 MiB.</summary>
    public const long DefaultMemoryHeadroomBytes = 512L << 20;

    /// <summary>The least <see cref="MemoryHeadroomBytes"/>: 0 (inclusive).</summary>
    public const long MinMemoryHeadroomBytes = 0;

    /// <summary>The default of <see cref="HotTemperatureC"/>: 85 °C.</summary>
    public const double DefaultHotTemperatureC = 85;

    /// <summary>
    /// Room temperature, 25 °C: the temperature score is 1 here, and <see cref="HotTemperatureC"/> must be above it
    /// (exclusive: 25 itself is invalid).
    /// </summary>
    public const double RoomTemperatureC = 25;

    /// <summary>The least <see cref="MaxLeasesPerDevice"/> when set: 1 (inclusive).</summary>
    public const int MinMaxLeasesPerDevice = 1;

    /// <summary>The default of <see cref="RandomTopK"/>: 3.</summary>
    public const int DefaultRandomTopK = 3;

    /// <summary>The least <see cref="RandomTopK"/>: 1 (inclusive).</summary>
    public const int MinRandomTopK = 1;

    /// <summary>The default of <see cref="WaitRecheckInterval"/>: 1 s.</summary>
    public static readonly TimeSpan DefaultWaitRecheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The strategy used when a request names none (default <see cref="GpuSelectionStrategy.BestScore"/>); a defined
    /// <see cref="GpuSelectionStrategy"/>.
    /// </summary>
    public GpuSelectionStrategy DefaultStrategy { get; set; } = GpuSelectionStrategy.BestScore;

    /// <summary>
    /// The weights of <see cref="GpuSelectionStrategy.BestScore"/> (by default a new <see cref="GpuScoreWeights"/>
    /// holding the default weights); not <see langword="null"/>, each weight finite and 0 or more, not all 0.
    /// </summary>
    public GpuScoreWeights Weights { get; set; } = new();

    /// <summary>
    /// Memory kept free on every device (CUDA context, fragmentation), in bytes; a device's capacity for leases is its
    /// total memory minus this. 0 or more (<see cref="MinMemoryHeadroomBytes"/>); 512 MiB by default
    /// (<see cref="DefaultMemoryHeadroomBytes"/>).
    /// </summary>
    public long MemoryHeadroomBytes { get; set; } = DefaultMemoryHeadroomBytes;

    /// <summary>
    /// <see cref="MemoryHeadroomBytes"/> written as a size, for configuration files (<c>"MemoryHeadroom": "2GiB"</c>):
    /// <c>512MiB</c>, <c>2GB</c>, <c>1.5 GiB</c> or a number of bytes, as <see cref="ByteSize.Parse"/> reads them (the
    /// configuration binders, reflection and source-generated alike, cannot read <c>"2GiB"</c> into a <see cref="long"/>,
    /// and the source generator ignores type converters). When set (not <see langword="null"/>) it wins over
    /// <see cref="MemoryHeadroomBytes"/>; <see langword="null"/> by default.
    /// </summary>
    public string? MemoryHeadroom { get; set; }

    /// <summary>The headroom in force: <see cref="MemoryHeadroom"/> when set, else <see cref="MemoryHeadroomBytes"/> (valid options only).</summary>
    internal long EffectiveMemoryHeadroomBytes => MemoryHeadroom is null ? MemoryHeadroomBytes : ByteSize.Parse(MemoryHeadroom);

    /// <summary>
    /// A device at or above this temperature (°C) is excluded by every strategy, whatever its health. Finite and above
    /// <see cref="RoomTemperatureC"/> (25 °C); 85 by default (<see cref="DefaultHotTemperatureC"/>).
    /// </summary>
    public double HotTemperatureC { get; set; } = DefaultHotTemperatureC;

    /// <summary>
    /// How many leases a device holds at once (its concurrency slots); each lease takes one slot on each of its devices.
    /// At least 1 (<see cref="MinMaxLeasesPerDevice"/>) when set; <see langword="null"/> (the default) means no limit
    /// other than memory.
    /// </summary>
    public int? MaxLeasesPerDevice { get; set; }

    /// <summary>
    /// How many of the best devices <see cref="GpuSelectionStrategy.RandomTopK"/> chooses among; at least 1
    /// (<see cref="MinRandomTopK"/>), 3 by default (<see cref="DefaultRandomTopK"/>).
    /// </summary>
    public int RandomTopK { get; set; } = DefaultRandomTopK;

    /// <summary>
    /// The seed of the random strategies. The same seed gives the same choices for the same sequence of calls;
    /// <see langword="null"/> (the default) seeds from a random source.
    /// </summary>
    public int? Seed { get; set; }

    /// <summary>
    /// While requests wait, how often the queue is re-examined even if no lease was released (free memory and health
    /// read from telemetry can change without one). More than 0, or <see cref="Timeout.InfiniteTimeSpan"/> to turn it
    /// off; 1 s by default (<see cref="DefaultWaitRecheckInterval"/>).
    /// </summary>
    public TimeSpan WaitRecheckInterval { get; set; } = DefaultWaitRecheckInterval;

    /// <summary>
    /// Whether health changes (a device lost, unhealthy, or usable again) are applied to the leases (revocations, waiters
    /// served) only when telemetry is next refreshed on demand (<see cref="GpuClusteringManager.RefreshTelemetryAsync"/>),
    /// on the refreshing thread and in the order they happened, instead of on the thread pool as they are reported.
    /// <see langword="false"/> by default. For deterministic drivers that run with the poller off and refresh at fixed
    /// points of a simulated timeline (<c>exo-gpu simulate</c>): every change then takes effect at a defined point and
    /// never races the driver. Leave it off with the background poller, or revocations wait for a refresh.
    /// </summary>
    public bool ApplyHealthChangesOnRefresh { get; set; }
}
