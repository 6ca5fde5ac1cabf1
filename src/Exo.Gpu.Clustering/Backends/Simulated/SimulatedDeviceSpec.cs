using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>The static facts and load character of one simulated device. Validated when created.</summary>
public sealed record SimulatedDeviceSpec
{
    /// <summary>Creates a device spec.</summary>
    /// <param name="name">The product name.</param>
    /// <param name="totalMemoryBytes">Total memory in bytes, more than 0.</param>
    /// <param name="computeCapability">The CUDA compute capability.</param>
    /// <param name="multiprocessorCount">Streaming multiprocessors, 1 or more.</param>
    /// <param name="maxSmClockMHz">Maximum SM clock in MHz, 1 or more.</param>
    /// <param name="maxMemoryClockMHz">Maximum memory clock in MHz, 1 or more.</param>
    /// <param name="memoryBusWidthBits">Memory bus width in bits, 1 or more.</param>
    /// <param name="powerLimitW">Enforced power limit in watts, more than <paramref name="idlePowerW"/>.</param>
    /// <param name="idlePowerW">Power drawn when idle, in watts, more than 0.</param>
    /// <param name="baseUtilizationPercent">The mean background load in percent (0–100) before any workload is added.</param>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or white space.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A number is out of its range (the parameter is named).</exception>
    public SimulatedDeviceSpec(
        string name,
        long totalMemoryBytes,
        ComputeCapability computeCapability,
        int multiprocessorCount,
        int maxSmClockMHz,
        int maxMemoryClockMHz,
        int memoryBusWidthBits,
        double powerLimitW,
        double idlePowerW,
        double baseUtilizationPercent = 10)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalMemoryBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(computeCapability.Major, 1, nameof(computeCapability));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(multiprocessorCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSmClockMHz);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMemoryClockMHz);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memoryBusWidthBits);
        ThrowIfNotFinite(idlePowerW, nameof(idlePowerW));
        ThrowIfNotFinite(powerLimitW, nameof(powerLimitW));
        ThrowIfNotFinite(baseUtilizationPercent, nameof(baseUtilizationPercent));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(idlePowerW);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(powerLimitW, idlePowerW);
        ArgumentOutOfRangeException.ThrowIfNegative(baseUtilizationPercent);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(baseUtilizationPercent, 100);

        Name = name;
        TotalMemoryBytes = totalMemoryBytes;
        ComputeCapability = computeCapability;
        MultiprocessorCount = multiprocessorCount;
        MaxSmClockMHz = maxSmClockMHz;
        MaxMemoryClockMHz = maxMemoryClockMHz;
        MemoryBusWidthBits = memoryBusWidthBits;
        PowerLimitW = powerLimitW;
        IdlePowerW = idlePowerW;
        BaseUtilizationPercent = baseUtilizationPercent;
    }

    /// <summary>The product name.</summary>
    public string Name { get; }

    /// <summary>Total memory in bytes.</summary>
    public long TotalMemoryBytes { get; }

    /// <summary>The CUDA compute capability.</summary>
    public ComputeCapability ComputeCapability { get; }

    /// <summary>Streaming multiprocessors.</summary>
    public int MultiprocessorCount { get; }

    /// <summary>Maximum SM clock in MHz.</summary>
    public int MaxSmClockMHz { get; }

    /// <summary>Maximum memory clock in MHz.</summary>
    public int MaxMemoryClockMHz { get; }

    /// <summary>Memory bus width in bits.</summary>
    public int MemoryBusWidthBits { get; }

    /// <summary>Enforced power limit in watts.</summary>
    public double PowerLimitW { get; }

    /// <summary>Power drawn when idle, in watts.</summary>
    public double IdlePowerW { get; }

    /// <summary>The mean background load in percent before any workload is added.</summary>
    public double BaseUtilizationPercent { get; }

    /// <summary>An NVIDIA H100 SXM 80 GB (Hopper, 9.0).</summary>
    public static SimulatedDeviceSpec H100Sxm80GB { get; } =
        new("NVIDIA H100 80GB HBM3", 80L * 1024 * 1024 * 1024, new ComputeCapability(9, 0), 132, 1980, 2619, 5120, 700, 70, 12);

    /// <summary>An NVIDIA A100 SXM 40 GB (Ampere, 8.0).</summary>
    public static SimulatedDeviceSpec A100Sxm40GB { get; } =
        new("NVIDIA A100-SXM4-40GB", 40L * 1024 * 1024 * 1024, new ComputeCapability(8, 0), 108, 1410, 1215, 5120, 400, 55, 15);

    /// <summary>An NVIDIA L40S 48 GB (Ada, 8.9).</summary>
    public static SimulatedDeviceSpec L40S48GB { get; } =
        new("NVIDIA L40S", 48L * 1024 * 1024 * 1024, new ComputeCapability(8, 9), 142, 2520, 9001, 384, 350, 35, 20);

    /// <summary>An NVIDIA Tesla T4 16 GB (Turing, 7.5).</summary>
    public static SimulatedDeviceSpec T4With16GB { get; } =
        new("Tesla T4", 16L * 1024 * 1024 * 1024, new ComputeCapability(7, 5), 40, 1590, 5001, 256, 70, 10, 25);

    private static void ThrowIfNotFinite(double value, string paramName)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be a finite number.");
        }
    }
}
