namespace Exo.Gpu.Clustering.Devices;

/// <summary>
/// The identity and static facts of one GPU. Immutable; keyed by <see cref="Uuid"/>, which is stable across reboots
/// and across NVML and CUDA numbering. Facts a backend cannot read are <see langword="null"/>.
/// </summary>
public sealed class GpuDevice : IEquatable<GpuDevice>
{
    private readonly int? _multiprocessorCount;
    private readonly int? _maxSmClockMHz;
    private readonly int? _maxMemoryClockMHz;
    private readonly int? _memoryBusWidthBits;
    private readonly int? _cudaOrdinal;
    private readonly string _vendor = "NVIDIA";

    /// <summary>Creates a device description.</summary>
    /// <param name="uuid">The device UUID (e.g. <c>GPU-8f6c…</c>); the key of the device.</param>
    /// <param name="index">The backend's index of the device (NVML index or simulated position), 0 or more.</param>
    /// <param name="name">The product name.</param>
    /// <param name="totalMemoryBytes">Total device memory in bytes, more than 0.</param>
    /// <param name="backend">The backend that discovered the device.</param>
    /// <exception cref="ArgumentNullException"><paramref name="uuid"/> or <paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="uuid"/> or <paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is negative, <paramref name="totalMemoryBytes"/> is not positive, or <paramref name="backend"/> is not defined.</exception>
    public GpuDevice(string uuid, int index, string name, long totalMemoryBytes, GpuBackendKind backend)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(uuid);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalMemoryBytes);
        if (!Enum.IsDefined(backend))
        {
            throw new ArgumentOutOfRangeException(nameof(backend), backend, "Unknown backend kind.");
        }

        Uuid = uuid;
        Index = index;
        Name = name;
        TotalMemoryBytes = totalMemoryBytes;
        Backend = backend;
    }

    /// <summary>The device UUID, the key of the device.</summary>
    public string Uuid { get; }

    /// <summary>The backend's index of the device (NVML index, or position in the simulated cluster).</summary>
    public int Index { get; }

    /// <summary>The product name, e.g. <c>NVIDIA H100 80GB HBM3</c>.</summary>
    public string Name { get; }

    /// <summary>Total device memory in bytes.</summary>
    public long TotalMemoryBytes { get; }

    /// <summary>The backend that discovered the device.</summary>
    public GpuBackendKind Backend { get; }

    /// <summary>Whether the device belongs to the simulated cluster.</summary>
    public bool IsSimulated => Backend == GpuBackendKind.Simulated;

    /// <summary>The vendor; <c>NVIDIA</c> unless set.</summary>
    /// <exception cref="ArgumentException">Set to an empty or white-space string.</exception>
    public string Vendor
    {
        get => _vendor;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            _vendor = value;
        }
    }

    /// <summary>The CUDA compute capability, or <see langword="null"/> when unknown.</summary>
    public ComputeCapability? ComputeCapability { get; init; }

    /// <summary>The number of streaming multiprocessors, or <see langword="null"/> when unknown.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value below 1.</exception>
    public int? MultiprocessorCount
    {
        get => _multiprocessorCount;
        init => _multiprocessorCount = Positive(value);
    }

    /// <summary>The maximum SM clock in MHz, or <see langword="null"/> when unknown.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value below 1.</exception>
    public int? MaxSmClockMHz
    {
        get => _maxSmClockMHz;
        init => _maxSmClockMHz = Positive(value);
    }

    /// <summary>The maximum memory clock in MHz, or <see langword="null"/> when unknown.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value below 1.</exception>
    public int? MaxMemoryClockMHz
    {
        get => _maxMemoryClockMHz;
        init => _maxMemoryClockMHz = Positive(value);
    }

    /// <summary>The memory bus width in bits, or <see langword="null"/> when unknown.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value below 1.</exception>
    public int? MemoryBusWidthBits
    {
        get => _memoryBusWidthBits;
        init => _memoryBusWidthBits = Positive(value);
    }

    /// <summary>
    /// The theoretical memory bandwidth in bytes per second: <c>2 × memory clock (Hz) × bus width / 8</c>
    /// (double data rate), or <see langword="null"/> when the clock or the bus width is unknown.
    /// </summary>
    public double? TheoreticalMemoryBandwidthBytesPerSecond =>
        MaxMemoryClockMHz is int clock && MemoryBusWidthBits is int width ? 2.0 * clock * 1e6 * width / 8.0 : null;

    /// <summary>The PCI bus id (<c>domain:bus:device.function</c>), or <see langword="null"/> when unknown.</summary>
    public string? PciBusId { get; init; }

    /// <summary>The driver version, or <see langword="null"/> when unknown.</summary>
    public string? DriverVersion { get; init; }

    /// <summary>The CUDA driver ordinal of the device, or <see langword="null"/> when CUDA does not see it.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative value.</exception>
    public int? CudaOrdinal
    {
        get => _cudaOrdinal;
        init
        {
            if (value is int v)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(v, nameof(CudaOrdinal));
            }

            _cudaOrdinal = value;
        }
    }

    /// <summary>Whether MIG mode is enabled, or <see langword="null"/> when unknown or unsupported.</summary>
    public bool? MigEnabled { get; init; }

    /// <summary>Devices are equal when their UUIDs are equal (ordinal comparison).</summary>
    public bool Equals(GpuDevice? other) => other is not null && string.Equals(Uuid, other.Uuid, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as GpuDevice);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Uuid);

    /// <summary>Formats as <c>index: name (uuid)</c>.</summary>
    public override string ToString() => $"{Index}: {Name} ({Uuid})";

    private static int? Positive(int? value, [System.Runtime.CompilerServices.CallerMemberName] string? property = null)
    {
        if (value is int v)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(v, 1, property);
        }

        return value;
    }
}
