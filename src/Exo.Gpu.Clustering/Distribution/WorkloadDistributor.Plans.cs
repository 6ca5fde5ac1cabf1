using System.Globalization;

namespace Exo.Gpu.Clustering.Distribution;

/// <content>Layer partitions and rebalancing after a lost device.</content>
public static partial class WorkloadDistributor
{
    /// <summary>
    /// Splits a model's <paramref name="layers"/> into contiguous ranges, one per device in device order (pipeline
    /// order), in proportion to each device's memory, as exo places layers across nodes.
    /// </summary>
    /// <remarks>
    /// <para>Largest remainder over the memory shares. When there are at least as many layers as devices, every device
    /// gets at least one layer; with fewer layers than devices the split is simply proportional and some devices get none.</para>
    /// <para>With <paramref name="bytesPerLayer"/> given, no device gets more layers than fit in its memory: a device
    /// whose share would not fit is capped and the rest is re-apportioned among the others. The layers left over after
    /// the floors go to the devices with the most memory left after their floors, never to the device with the least
    /// slack when another has room (exo PR #2227: the leftover layer went to the tightest node and ran it out of
    /// memory).</para>
    /// </remarks>
    /// <param name="layers">How many layers, 0 or more.</param>
    /// <param name="memoryBytes">Each device's memory in bytes, more than 0 (total, or free from a recent sample).</param>
    /// <param name="bytesPerLayer">The memory one layer needs, or 0 when unknown (no per-device limit).</param>
    /// <returns>A plan with one range of layers per device.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layers"/> or <paramref name="bytesPerLayer"/> is negative, or a memory size is not positive.</exception>
    /// <exception cref="ArgumentException"><paramref name="memoryBytes"/> is empty.</exception>
    /// <exception cref="InsufficientCapacityException">With <paramref name="bytesPerLayer"/>: the layers do not fit in the devices' memory, or a device cannot hold the one layer every device must get (names <c>memoryBytes</c>).</exception>
    public static DistributionPlan PartitionLayers(int layers, ReadOnlySpan<long> memoryBytes, long bytesPerLayer = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layers);
        ArgumentOutOfRangeException.ThrowIfNegative(bytesPerLayer);
        if (memoryBytes.IsEmpty)
        {
            throw new ArgumentException("The device set is empty: at least one device's memory is needed.", nameof(memoryBytes));
        }

        var k = memoryBytes.Length;
        var weights = new double[k];
        for (var i = 0; i < k; i++)
        {
            if (memoryBytes[i] <= 0)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(memoryBytes),
                    memoryBytes[i],
                    string.Create(CultureInfo.InvariantCulture, $"memoryBytes[{i}] must be more than 0, got {memoryBytes[i]}."));
            }

            weights[i] = memoryBytes[i];
        }

        long[]? minimums = null;
        if (layers >= k)
        {
            minimums = new long[k];
            Array.Fill(minimums, 1L);
        }

        long[]? caps = null;
        if (bytesPerLayer > 0)
        {
            caps = new long[k];
            long capacity = 0;
            for (var i = 0; i < k; i++)
            {
                caps[i] = memoryBytes[i] / bytesPerLayer;
                capacity = Apportioner.SaturatingAdd(capacity, caps[i]);
            }

            if (capacity < layers)
            {
                throw new InsufficientCapacityException(
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"The devices hold {capacity} layers of {bytesPerLayer} bytes, but the model has {layers}."),
                    nameof(memoryBytes),
                    layers,
                    capacity);
            }

            for (var i = 0; minimums is not null && i < k; i++)
            {
                if (caps[i] < 1)
                {
                    throw new InsufficientCapacityException(
                        string.Create(
                            CultureInfo.InvariantCulture,
                            $"Device {i} has {memoryBytes[i]} bytes, less than one layer of {bytesPerLayer} bytes, but each of the {k} devices must hold at least one of the {layers} layers. Leave the device out."),
                        nameof(memoryBytes),
                        layers,
                        capacity);
                }
            }
        }

        Apportioner.Validate(layers, weights, minimums, caps, ApportionmentMethod.Hamilton, allowUnassigned: false);
        var counts = new long[k];
        if (bytesPerLayer > 0)
        {
            Apportioner.ComputeLayers(layers, weights, minimums, caps, memoryBytes, bytesPerLayer, counts);
        }
        else
        {
            Apportioner.Compute(layers, weights, minimums, caps, ApportionmentMethod.Hamilton, counts);
        }

        return DistributionPlan.FromCounts(ApportionmentMethod.Hamilton, layers, counts, 0);
    }

    /// <summary>
    /// Takes a lost device out of a plan: its items, and only its items, move to the surviving devices, apportioned by
    /// <paramref name="weights"/> with the plan's method and within the caps. Every other item stays on its device and
    /// in its place; the new plan is still exact.
    /// </summary>
    /// <remarks>
    /// <para>The lost device's items are cut, in item order, into one piece per receiving survivor, in device order; a
    /// piece that follows a survivor's own range joins it. A survivor may therefore hold several ranges (see
    /// <see cref="DistributionPlan.Ranges"/>).</para>
    /// <para>Devices lost earlier (<see cref="DistributionPlan.LostDevices"/>) receive nothing, whatever their weight.
    /// A device that already holds its cap or more receives nothing and keeps its items.</para>
    /// <para>When the survivors' caps cannot take every moving item: <see cref="InsufficientCapacityException"/>, or,
    /// with <paramref name="allowUnassigned"/>, the last of the lost device's items become unassigned ranges.</para>
    /// </remarks>
    /// <param name="plan">The plan to rebalance; it is not changed.</param>
    /// <param name="lostDevice">The lost device's position in the plan.</param>
    /// <param name="weights">One weight per device of the plan (the lost device's is ignored): finite, 0 or more; at least one survivor's positive.</param>
    /// <param name="caps">Empty for none, or one cap per device: the most items a device may hold in the new plan.</param>
    /// <param name="allowUnassigned">Whether moving items the caps cannot hold may be left unassigned instead of throwing.</param>
    /// <returns>The new plan.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="plan"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lostDevice"/> is not a device of the plan; a weight is negative, NaN or infinite; a cap is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="weights"/> or <paramref name="caps"/> does not have one entry per device; no survivor has a positive weight while the lost device holds items.</exception>
    /// <exception cref="InsufficientCapacityException">The survivors' caps cannot take the lost device's items and <paramref name="allowUnassigned"/> is <see langword="false"/> (names <c>caps</c>).</exception>
    public static DistributionPlan Rebalance(
        DistributionPlan plan,
        int lostDevice,
        ReadOnlySpan<double> weights,
        ReadOnlySpan<long> caps = default,
        bool allowUnassigned = false)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var k = plan.DeviceCount;
        ArgumentOutOfRangeException.ThrowIfNegative(lostDevice);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(lostDevice, k);
        if (weights.Length != k)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"weights has {weights.Length} entries, but the plan covers {k} devices."),
                nameof(weights));
        }

        if (!caps.IsEmpty && caps.Length != k)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"caps has {caps.Length} entries, but the plan covers {k} devices; give one per device or none."),
                nameof(caps));
        }

        var counts = plan.CountSpan;
        var survivorWeights = new double[k];
        var headroom = caps.IsEmpty ? null : new long[k];
        double survivorTotal = 0;
        long room = 0;
        for (var i = 0; i < k; i++)
        {
            var w = weights[i];
            if (!double.IsFinite(w) || w < 0)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(weights),
                    w,
                    string.Create(CultureInfo.InvariantCulture, $"weights[{i}] must be a finite number of 0 or more, got {w}."));
            }

            if (headroom is not null)
            {
                ArgumentOutOfRangeException.ThrowIfNegative(caps[i], nameof(caps));
                headroom[i] = Math.Max(0, caps[i] - counts[i]);
            }

            var survives = i != lostDevice && !plan.LostDevices.Contains(i);
            survivorWeights[i] = survives ? w : 0;
            survivorTotal += survivorWeights[i];
            if (survives && w > 0)
            {
                room = Apportioner.SaturatingAdd(room, headroom is null ? Apportioner.MaxItems : headroom[i]);
            }
        }

        var lost = plan.LostDevices.Contains(lostDevice) ? [.. plan.LostDevices] : plan.LostDevices.Append(lostDevice).ToArray();
        var moving = counts[lostDevice];
        if (moving == 0)
        {
            return new DistributionPlan(plan.Method, plan.TotalItems, counts.ToArray(), plan.Unassigned, plan.RangeSpan.ToArray(), lost);
        }

        if (survivorTotal == 0)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"No surviving device has a positive weight, so the {moving} items of device {lostDevice} have nowhere to go."),
                nameof(weights));
        }

        if (room < moving && !allowUnassigned)
        {
            throw new InsufficientCapacityException(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"The survivors' caps leave room for {room} of the {moving} items of device {lostDevice}. Raise a cap or allow unassigned items."),
                nameof(caps),
                moving,
                room);
        }

        var placed = Apportioner.Validate(moving, survivorWeights, default, headroom, plan.Method, allowUnassigned: true);
        var extra = new long[k];
        Apportioner.Compute(placed, survivorWeights, default, headroom, plan.Method, extra);

        var newCounts = new long[k];
        for (var i = 0; i < k; i++)
        {
            newCounts[i] = i == lostDevice ? 0 : counts[i] + extra[i];
        }

        var ranges = new List<ItemRange>(plan.RangeSpan.Length + k + 1);
        var receiver = 0;
        foreach (var range in plan.RangeSpan)
        {
            if (range.Device != lostDevice)
            {
                Append(ranges, range);
                continue;
            }

            var offset = range.Offset;
            var left = range.Count;
            while (left > 0)
            {
                while (receiver < k && extra[receiver] == 0)
                {
                    receiver++;
                }

                var device = receiver < k ? receiver : ItemRange.UnassignedDevice;
                var take = receiver < k ? Math.Min(left, extra[receiver]) : left;
                Append(ranges, new ItemRange(device, offset, take));
                if (receiver < k)
                {
                    extra[receiver] -= take;
                }

                offset += take;
                left -= take;
            }
        }

        return new DistributionPlan(plan.Method, plan.TotalItems, newCounts, plan.Unassigned + (moving - placed), [.. ranges], lost);
    }

    /// <summary>Appends a range, joining it to the previous one when they are adjacent and on the same device.</summary>
    private static void Append(List<ItemRange> ranges, ItemRange range)
    {
        if (ranges.Count > 0 && ranges[^1] is var previous && previous.Device == range.Device && previous.End == range.Offset)
        {
            ranges[^1] = previous with { Count = previous.Count + range.Count };
            return;
        }

        ranges.Add(range);
    }
}
