namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>How a <see cref="DeviceSelector"/> ranks the devices that pass a request's constraints.</summary>
/// <remarks>
/// The strategy only orders eligible devices: hot, unhealthy, lost and stale devices, and those without room after
/// reservations, are excluded before any strategy runs. Ties are broken by fewer reserved bytes, then fewer active
/// leases, then the lower slot, so equal devices are filled in turn rather than one after another
/// (<see cref="LeastLoaded"/> breaks its ties by score first).
/// <para>Which to use: <see cref="LeastLoaded"/> (the default) for a server of short, frequent requests; <see cref="BestFit"/>
/// to pack batch jobs and keep large devices free; <see cref="PowerOfTwoChoices"/> or <see cref="RandomTopK"/> for
/// selection without a lease (<see cref="DeviceSelector.Select"/>), where nothing is reserved between callers.</para>
/// </remarks>
public enum GpuSelectionStrategy
{
    /// <summary>
    /// The highest weighted score of free memory after reservations, idle compute, temperature headroom and power
    /// headroom (see <see cref="GpuScoreWeights"/>).
    /// </summary>
    BestScore = 0,

    /// <summary>The most free memory after reservations, in bytes (not as a fraction of the device's total).</summary>
    MostFreeMemory = 1,

    /// <summary>The lowest utilization; devices that do not report utilization come last.</summary>
    LeastUtilized = 2,

    /// <summary>The device with the least free memory that still fits the request: packs work, keeping large devices free.</summary>
    BestFit = 3,

    /// <summary>The next eligible device after the one chosen last, in slot order (a shared counter advanced atomically).</summary>
    RoundRobin = 4,

    /// <summary>
    /// A random device among the <see cref="DeviceSelectorOptions.RandomTopK"/> best by score (Ray's hybrid policy):
    /// callers that select without a lease do not all land on the same device. Deterministic for a given
    /// <see cref="DeviceSelectorOptions.Seed"/>.
    /// </summary>
    RandomTopK = 5,

    /// <summary>
    /// The better by score of two eligible devices drawn at random (the power of two choices): robust to stale readings.
    /// Deterministic for a given <see cref="DeviceSelectorOptions.Seed"/>.
    /// </summary>
    PowerOfTwoChoices = 6,

    /// <summary>
    /// The device with the fewest active leases, then the smallest fraction of its capacity reserved, ties broken by the
    /// <see cref="BestScore"/> score: spreads work in flight, as a load balancer's least-requests policy does. The
    /// default (<see cref="DeviceSelectorOptions.DefaultStrategy"/>), for servers of short, frequent requests: the
    /// lease counts and reservations come from the selector's own accounting, exact when the lease is granted (a
    /// choice is re-checked under the selector's lock), not from telemetry, so concurrent callers never pile onto the
    /// device whose last reading looked best, and stale readings only decide ties. Without leases in flight it chooses
    /// as <see cref="BestScore"/> does.
    /// </summary>
    LeastLoaded = 7,
}
