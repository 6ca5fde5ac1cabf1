namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>Settings of a <see cref="DeviceSelector"/>, read once when the selector is created.</summary>
public sealed class DeviceSelectorOptions
{
    private readonly long _memoryHeadroomBytes = 512L << 20;
    private readonly double _hotTemperatureC = 85;
    private readonly int? _maxLeasesPerDevice;
    private readonly int _randomTopK = 3;
    private readonly TimeSpan _waitRecheckInterval = TimeSpan.FromSeconds(1);
    private readonly GpuSelectionStrategy _defaultStrategy = GpuSelectionStrategy.BestScore;
    private readonly GpuScoreWeights _weights = GpuScoreWeights.Default;

    /// <summary>The strategy used when a request names none (default <see cref="GpuSelectionStrategy.BestScore"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to an undefined value.</exception>
    public GpuSelectionStrategy DefaultStrategy
    {
        get => _defaultStrategy;
        init
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(DefaultStrategy), value, "Unknown strategy.");
            }

            _defaultStrategy = value;
        }
    }

    /// <summary>The weights of <see cref="GpuSelectionStrategy.BestScore"/> (default <see cref="GpuScoreWeights.Default"/>).</summary>
    /// <exception cref="ArgumentNullException">Set to <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">Set to weights that are all zero.</exception>
    public GpuScoreWeights Weights
    {
        get => _weights;
        init
        {
            ArgumentNullException.ThrowIfNull(value, nameof(Weights));
            if (value.Sum <= 0)
            {
                throw new ArgumentException("At least one weight must be above 0.", nameof(Weights));
            }

            _weights = value;
        }
    }

    /// <summary>
    /// Memory kept free on every device (CUDA context, fragmentation), in bytes; a device's capacity for leases is its
    /// total memory minus this (default 512 MiB).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative value.</exception>
    public long MemoryHeadroomBytes
    {
        get => _memoryHeadroomBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MemoryHeadroomBytes));
            _memoryHeadroomBytes = value;
        }
    }

    /// <summary>
    /// A device at or above this temperature (°C) is excluded by every strategy, whatever its health (default 85).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to NaN, an infinite value, or 25 °C or less.</exception>
    public double HotTemperatureC
    {
        get => _hotTemperatureC;
        init
        {
            if (!double.IsFinite(value) || value <= 25)
            {
                throw new ArgumentOutOfRangeException(nameof(HotTemperatureC), value, "The hot limit must be a finite temperature above 25 °C.");
            }

            _hotTemperatureC = value;
        }
    }

    /// <summary>
    /// How many leases a device holds at once (its concurrency slots); each lease takes one slot on each of its devices.
    /// <see langword="null"/> (the default) means no limit other than memory.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value below 1.</exception>
    public int? MaxLeasesPerDevice
    {
        get => _maxLeasesPerDevice;
        init
        {
            if (value is int v)
            {
                ArgumentOutOfRangeException.ThrowIfLessThan(v, 1, nameof(MaxLeasesPerDevice));
            }

            _maxLeasesPerDevice = value;
        }
    }

    /// <summary>How many of the best devices <see cref="GpuSelectionStrategy.RandomTopK"/> chooses among (default 3).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value below 1.</exception>
    public int RandomTopK
    {
        get => _randomTopK;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(RandomTopK));
            _randomTopK = value;
        }
    }

    /// <summary>
    /// The seed of the random strategies. The same seed gives the same choices for the same sequence of calls;
    /// <see langword="null"/> (the default) seeds from a random source.
    /// </summary>
    public int? Seed { get; init; }

    /// <summary>
    /// While requests wait, how often the queue is re-examined even if no lease was released (free memory and health
    /// read from telemetry can change without one). Default 1 s; <see cref="Timeout.InfiniteTimeSpan"/> turns it off.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to zero or a negative value other than <see cref="Timeout.InfiniteTimeSpan"/>.</exception>
    public TimeSpan WaitRecheckInterval
    {
        get => _waitRecheckInterval;
        init
        {
            if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
            {
                throw new ArgumentOutOfRangeException(nameof(WaitRecheckInterval), value, "The interval must be positive, or Timeout.InfiniteTimeSpan.");
            }

            _waitRecheckInterval = value;
        }
    }
}
