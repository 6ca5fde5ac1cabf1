using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The eligibility rules, each written once: a rule tests its condition and, when the device fails it, hands its
/// reason to the sink (<see cref="IRejectionSink"/>). The same code gives the hot path its verdict (with
/// <see cref="NoReasons"/>: stop at the first failure, build nothing) and <see cref="DeviceSelector.Explain"/> every
/// reason (with <see cref="CollectReasons"/>).
/// </summary>
/// <remarks>
/// <para>The static rules (identity, model, capacity) depend only on the request and the device set: request
/// resolution runs them once per request and device set (<see cref="ResolvedRequest.Allowed"/>), explanations run
/// them again to say why. The state rules (health, freshness, temperature, utilization, room, concurrency slots) run
/// at every selection, on the device's reading and the ledger's accounting.</para>
/// <para>A device is eligible when every rule passes; the rules' order is the order of the reasons.</para>
/// </remarks>
internal sealed class EligibilityRules
{
    /// <summary>The hot limit in °C (<see cref="DeviceSelectorOptions.HotTemperatureC"/>).</summary>
    private readonly double _hot;

    /// <summary>Bytes kept free on every device (<see cref="DeviceSelectorOptions.MemoryHeadroomBytes"/>).</summary>
    private readonly long _headroom;

    /// <summary>Concurrency slots per device (<see cref="int.MaxValue"/> when unlimited).</summary>
    private readonly int _maxLeases;

    public EligibilityRules(DeviceSelectorOptions options)
    {
        _hot = options.HotTemperatureC;
        _headroom = options.EffectiveMemoryHeadroomBytes;
        _maxLeases = options.MaxLeasesPerDevice ?? int.MaxValue;
    }

    /// <summary>Every static rule: identity, then model and capacity.</summary>
    /// <returns>Whether the device passes (for a collecting sink: whether nothing has been rejected so far).</returns>
    public static bool PassesStatic<TSink>(GpuRequest request, SlotTable table, int slot, TSink sink)
        where TSink : struct, IRejectionSink =>
        Identity(request, table.Devices[slot], sink) && ModelAndCapacity(request, table, slot, sink) && sink.Accepted;

    /// <summary>The identity rules: the request's exclude lists, then its include lists.</summary>
    /// <returns>Whether the device passes (for a collecting sink: whether nothing has been rejected so far).</returns>
    public static bool PassesIdentity<TSink>(GpuRequest request, GpuDevice device, TSink sink)
        where TSink : struct, IRejectionSink => Identity(request, device, sink) && sink.Accepted;

    /// <summary>The model rules (name pattern, compute capability) and the capacity rule (the request fits the device at all).</summary>
    /// <returns>Whether the device passes (for a collecting sink: whether nothing has been rejected so far).</returns>
    public static bool PassesModelAndCapacity<TSink>(GpuRequest request, SlotTable table, int slot, TSink sink)
        where TSink : struct, IRejectionSink => ModelAndCapacity(request, table, slot, sink) && sink.Accepted;

    /// <summary>
    /// The state rules, on a device that passes the static ones (as the hot path knows from
    /// <see cref="ResolvedRequest.Allowed"/>): health, a fresh reading young enough for the request, below the hot
    /// limit and the request's temperature and utilization limits, room after reservations, a free concurrency slot.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="reading">The device's reading (by value: it stays in registers).</param>
    /// <param name="capacity">The device's capacity (<see cref="SlotTable.Capacity"/>).</param>
    /// <param name="reserved">Bytes reserved on the device by active leases.</param>
    /// <param name="leases">Active leases on the device.</param>
    /// <param name="sink">Where rejections go.</param>
    /// <param name="available">
    /// Free bytes after reservations, <c>min(capacity − reserved, observed free − headroom)</c>, at least 0; computed
    /// once the room rule is reached (always, for a collecting sink), 0 before.
    /// </param>
    /// <returns>Whether the device passes (for a collecting sink: whether nothing has been rejected so far).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool PassesState<TSink>(GpuRequest request, Reading reading, long capacity, long reserved, int leases, TSink sink, out long available)
        where TSink : struct, IRejectionSink
    {
        // Inlined into its callers and specialised per sink: with NoReasons every Reject is the constant false, so
        // each rule is one test and an early return, and the reasons are never even constructed.
        available = 0;
        var health = reading.Health;
        if (health != GpuHealth.Healthy && !(health == GpuHealth.Degraded && request.AllowDegraded) && !sink.Reject(new NotHealthy(health)))
        {
            return false;
        }

        if (!reading.Fresh)
        {
            if (!sink.Reject(new NoFreshReading(reading.Age)))
            {
                return false;
            }
        }
        else if (request.MaxTelemetryAge is { } maxAge && reading.Age > maxAge && !sink.Reject(new ReadingTooOld(reading.Age, maxAge)))
        {
            return false;
        }

        if (reading.Fresh)
        {
            if (reading.HasTemperature && reading.Temperature >= _hot && !sink.Reject(new TooHot(reading.Temperature, _hot)))
            {
                return false;
            }

            if (request.MaxTemperatureC is double maxT && !(reading.HasTemperature && reading.Temperature <= maxT) && !sink.Reject(new AboveMaxTemperature(reading.Temperature, maxT)))
            {
                return false;
            }

            if (request.MaxUtilizationPercent is double maxU && !(reading.HasUtilization && reading.Utilization <= maxU) && !sink.Reject(new AboveMaxUtilization(reading.Utilization, maxU)))
            {
                return false;
            }
        }

        available = capacity - reserved;
        if (reading.HasMemoryFree)
        {
            available = Math.Min(available, reading.MemoryFree - _headroom);
        }

        // Below zero only when the device has less free than the headroom: then even a request for nothing fails.
        var tooSmall = available < request.MemoryBytes;
        if (available < 0)
        {
            available = 0;
        }

        // A request larger than the capacity is the capacity rule's (static) rejection, not a lack of room.
        if (tooSmall && capacity >= request.MemoryBytes && !sink.Reject(new NoRoom(request.MemoryBytes, available, reserved, capacity, reading.MemoryFree, _headroom)))
        {
            return false;
        }

        if (leases >= _maxLeases && !sink.Reject(new SlotsFull(_maxLeases)))
        {
            return false;
        }

        return sink.Accepted;
    }

    /// <summary>The identity rules.</summary>
    /// <returns>Whether to go on judging: <see langword="false"/> once the sink stopped the judgement at a rejection.</returns>
    private static bool Identity<TSink>(GpuRequest request, GpuDevice device, TSink sink)
        where TSink : struct, IRejectionSink
    {
        if (request.IsExcludedIndex(device.Index) && !sink.Reject(new ExcludedByIndex(device.Index)))
        {
            return false;
        }

        if (request.IsExcludedUuid(device.Uuid) && !sink.Reject(default(ExcludedByUuid)))
        {
            return false;
        }

        if (request.HasIncludes && !request.IsIncludedIndex(device.Index) && !request.IsIncludedUuid(device.Uuid) && !sink.Reject(default(NotIncluded)))
        {
            return false;
        }

        return true;
    }

    /// <summary>The model and capacity rules.</summary>
    /// <returns>Whether to go on judging: <see langword="false"/> once the sink stopped the judgement at a rejection.</returns>
    private static bool ModelAndCapacity<TSink>(GpuRequest request, SlotTable table, int slot, TSink sink)
        where TSink : struct, IRejectionSink
    {
        var device = table.Devices[slot];
        if (request.CompiledNamePattern is { } pattern && !pattern.IsMatch(device.Name) && !sink.Reject(new NameMismatch(device.Name, pattern.Pattern)))
        {
            return false;
        }

        if (!ComputeCapabilityAllowed(request, device.ComputeCapability)
            && !sink.Reject(new ComputeCapabilityOutOfRange(device.ComputeCapability, request.MinComputeCapability, request.MaxComputeCapability)))
        {
            return false;
        }

        var capacity = table.Capacity[slot];
        if (capacity < request.MemoryBytes && !sink.Reject(new LargerThanCapacity(request.MemoryBytes, capacity, device.TotalMemoryBytes, table.HeadroomBytes)))
        {
            return false;
        }

        return true;
    }

    /// <summary>Whether a compute capability is within the request's range (an unknown one is not, when there is a range).</summary>
    private static bool ComputeCapabilityAllowed(GpuRequest request, ComputeCapability? capability)
    {
        if (request.MinComputeCapability is null && request.MaxComputeCapability is null)
        {
            return true;
        }

        return capability is { } cc
            && !(request.MinComputeCapability is { } min && cc < min)
            && !(request.MaxComputeCapability is { } max && cc > max);
    }
}
