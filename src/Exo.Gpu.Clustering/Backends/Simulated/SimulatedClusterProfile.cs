namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>A named set of simulated devices.</summary>
public sealed class SimulatedClusterProfile
{
    private SimulatedClusterProfile(string name, SimulatedDeviceSpec[] devices)
    {
        Name = name;
        Devices = devices;
    }

    /// <summary>The profile's name.</summary>
    public string Name { get; }

    /// <summary>The devices, in index order.</summary>
    public IReadOnlyList<SimulatedDeviceSpec> Devices { get; }

    /// <summary>Identical data-center GPUs of 80 GB (H100 SXM), 8 unless told otherwise.</summary>
    /// <param name="deviceCount">How many devices, 1 to 1024.</param>
    /// <returns>The profile.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="deviceCount"/> is out of range.</exception>
    public static SimulatedClusterProfile Homogeneous(int deviceCount = 8)
    {
        ThrowIfBadCount(deviceCount);
        return new("homogeneous", Enumerable.Repeat(SimulatedDeviceSpec.H100Sxm80GB, deviceCount).ToArray());
    }

    /// <summary>
    /// Mixed memory sizes, speeds and generations, 8 unless told otherwise: H100 80 GB, A100 40 GB, L40S 48 GB and
    /// T4 16 GB, repeated in that order.
    /// </summary>
    /// <param name="deviceCount">How many devices, 1 to 1024.</param>
    /// <returns>The profile.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="deviceCount"/> is out of range.</exception>
    public static SimulatedClusterProfile Heterogeneous(int deviceCount = 8)
    {
        ThrowIfBadCount(deviceCount);
        SimulatedDeviceSpec[] cycle =
        [
            SimulatedDeviceSpec.H100Sxm80GB,
            SimulatedDeviceSpec.A100Sxm40GB,
            SimulatedDeviceSpec.L40S48GB,
            SimulatedDeviceSpec.T4With16GB,
        ];
        var devices = new SimulatedDeviceSpec[deviceCount];
        for (var i = 0; i < devices.Length; i++)
        {
            devices[i] = cycle[i % cycle.Length];
        }

        return new("heterogeneous", devices);
    }

    /// <summary>A profile of the given devices.</summary>
    /// <param name="devices">The devices in index order; at least one, none <see langword="null"/>.</param>
    /// <returns>The profile.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="devices"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="devices"/> is empty or holds <see langword="null"/>.</exception>
    public static SimulatedClusterProfile Custom(IEnumerable<SimulatedDeviceSpec> devices)
    {
        ArgumentNullException.ThrowIfNull(devices);
        var array = devices.ToArray();
        if (array.Length == 0)
        {
            throw new ArgumentException("A profile needs at least one device.", nameof(devices));
        }

        if (Array.IndexOf(array, null) >= 0)
        {
            throw new ArgumentException("A profile cannot hold a null device.", nameof(devices));
        }

        ThrowIfBadCount(array.Length, nameof(devices));
        return new("custom", array);
    }

    private static void ThrowIfBadCount(int deviceCount, string paramName = "deviceCount")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(deviceCount, 1, paramName);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(deviceCount, 1024, paramName);
    }
}
