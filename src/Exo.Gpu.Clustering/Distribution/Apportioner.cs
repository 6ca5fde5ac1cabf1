using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace Exo.Gpu.Clustering.Distribution;

/// <summary>
/// The arithmetic behind <see cref="WorkloadDistributor"/>: validation, bounded (water-filled) quotas, and the rounding
/// of each method. Pure: no state, no clock, no I/O, no locks.
/// </summary>
/// <remarks>
/// <para><b>Quotas.</b> With no minimums and no caps, device i's quota is <c>N × wᵢ / W</c>. With bounds, the quotas
/// are the water-filled shares <c>qᵢ = clamp(λ·wᵢ, minᵢ, capᵢ)</c> with λ chosen so that they add up to N: capped
/// devices get their cap, devices held up by a minimum get their minimum, the rest share what is left in proportion to
/// their weights. λ is found by the Bitran–Hax iteration (fix the side whose bounds are violated more, repeat), at most
/// one pass per device. Quotas are computed in double precision, so they are exact for integer weights as long as
/// <c>N × wᵢ</c> stays below 2⁵³.</para>
/// <para><b>Rounding.</b> Hamilton floors the quotas and gives the items left over one each to the largest remainders
/// (ties: lower index). The floors and remainders of the devices that share freely are exact: each weight, a double, is
/// <c>m × 2^e</c>, so scaled by the least <c>2^e</c> the weights are integers and each quota an integer division
/// (see <c>TryExactHamilton</c>); equal remainders compare equal, whatever the rounding of <c>N × wᵢ / W</c>. Only
/// weights too far apart for 128-bit integers once scaled (e.g. 1e-300 next to 1e300) fall back to floating-point remainders.
/// The divisor methods start from the quotas rounded by their own rule (floor for D'Hondt, half up
/// for Webster), which is the exact divisor apportionment of some nearby total, then add or remove single items by
/// priority <c>w / (c + 1)</c> or <c>w / (c + 0.5)</c> until the total is N, and finally swap items while any device
/// outside would outrank a device inside. The result is the one the item-by-item procedure gives (ties: lower index
/// first), in O(devices²) at worst instead of O(N × devices).</para>
/// <para>Whatever the floating-point quotas, the integer fix-up makes the counts add up to N exactly and keeps every
/// count within its bounds.</para>
/// </remarks>
internal static partial class Apportioner
{
    /// <summary>The most items one call can place: 2⁵³, beyond which double-precision quotas lose whole items.</summary>
    public const long MaxItems = 1L << 53;

    /// <summary>The largest total weight accepted; larger totals would overflow <c>N × w</c>.</summary>
    public const double MaxTotalWeight = 1e290;

    /// <summary>Up to this many devices the scratch space lives on the stack.</summary>
    public const int StackDevices = 128;

    private const byte Free = 0;
    private const byte AtMinimum = 1;
    private const byte AtCap = 2;

    /// <summary>
    /// Checks every argument, without writing anything. Returns how many items will be placed: <paramref name="items"/>,
    /// or the capacity when the caps cannot hold them and the caller allowed unassigned items.
    /// </summary>
    public static long Validate(
        long items,
        ReadOnlySpan<double> weights,
        ReadOnlySpan<long> minimums,
        ReadOnlySpan<long> caps,
        ApportionmentMethod method,
        bool allowUnassigned)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(items);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(items, MaxItems);
        if (!Enum.IsDefined(method))
        {
            throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown apportionment method.");
        }

        ValidateWeights(weights);
        CheckBounds(minimums, weights.Length, nameof(minimums));
        CheckBounds(caps, weights.Length, nameof(caps));

        var bounds = new Bounds(weights, minimums, caps);
        long minimumSum = 0;
        long capacity = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            var low = bounds.Low(i);
            if (!caps.IsEmpty && low > caps[i])
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"minimums[{i}] = {low} is above caps[{i}] = {caps[i]}."),
                    nameof(minimums));
            }

            minimumSum = SaturatingAdd(minimumSum, low);
            capacity = SaturatingAdd(capacity, bounds.High(i));
        }

        if (minimumSum > items)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The minimums add up to {minimumSum}, more than the {items} items to place."),
                nameof(minimums));
        }

        if (capacity < items)
        {
            if (!allowUnassigned)
            {
                throw new InsufficientCapacityException(
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"The caps hold {capacity} of the {items} items (a device of weight 0 holds only its minimum). Raise a cap, add a device, or allow unassigned items."),
                    nameof(caps),
                    items,
                    capacity);
            }

            return capacity;
        }

        return items;
    }

    /// <summary>Checks that the weights are finite, not negative, not all zero, and not empty.</summary>
    public static void ValidateWeights(ReadOnlySpan<double> weights, [CallerArgumentExpression(nameof(weights))] string? paramName = null)
    {
        if (weights.IsEmpty)
        {
            throw new ArgumentException("The device set is empty: at least one weight is needed.", paramName);
        }

        double total = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            var w = weights[i];
            if (!double.IsFinite(w) || w < 0)
            {
                throw new ArgumentOutOfRangeException(
                    paramName,
                    w,
                    string.Create(CultureInfo.InvariantCulture, $"{paramName}[{i}] must be a finite number of 0 or more, got {w}."));
            }

            total += w;
        }

        if (total == 0)
        {
            throw new ArgumentException("Every weight is zero: at least one device needs a positive weight.", paramName);
        }

        if (total > MaxTotalWeight)
        {
            throw new ArgumentOutOfRangeException(paramName, total, "The weights add up to more than 1e290; scale them down.");
        }
    }

    /// <summary>
    /// Apportions <paramref name="items"/> (already validated and no more than the capacity) into
    /// <paramref name="counts"/>.
    /// </summary>
    [SkipLocalsInit]
    public static void Compute(
        long items,
        ReadOnlySpan<double> weights,
        ReadOnlySpan<long> minimums,
        ReadOnlySpan<long> caps,
        ApportionmentMethod method,
        Span<long> counts)
    {
        Debug.Assert(counts.Length == weights.Length, "counts and weights have the same length");
        var k = weights.Length;
        double[]? rented = null;
        byte[]? rentedState = null;
        Span<double> scratch = k <= StackDevices ? stackalloc double[3 * k] : (rented = ArrayPool<double>.Shared.Rent(3 * k));
        Span<byte> state = k <= StackDevices ? stackalloc byte[k] : (rentedState = ArrayPool<byte>.Shared.Rent(k));
        try
        {
            var bounds = new Bounds(weights, minimums, caps);
            var quotas = scratch[..k];
            var a = scratch.Slice(k, k);
            var b = scratch.Slice(2 * k, k);
            var fill = WaterFill(items, bounds, quotas, state[..k]);
            switch (method)
            {
                case ApportionmentMethod.Webster:
                    // Rounding half up loses nothing on average: start from the water-filled divisor itself.
                    DivisorRound(items, fill.Multiplier, quotas, bounds, 0.5, counts, a, b);
                    break;
                case ApportionmentMethod.DHondt:
                    // Flooring loses half an item per free device on average: start from the divisor that makes up for it.
                    DivisorRound(items, fill.FreeWeight > 0 ? (fill.Rest + (fill.FreeCount / 2.0)) / fill.FreeWeight : double.NaN, quotas, bounds, 1.0, counts, a, b);
                    break;
                default:
                    if (!TryExactHamilton(items, bounds, state[..k], quotas, a))
                    {
                        for (var i = 0; i < k; i++)
                        {
                            a[i] = quotas[i] - Math.Floor(quotas[i]);
                        }
                    }

                    RoundQuotas(items, quotas, a, bounds, counts, b);
                    break;
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<double>.Shared.Return(rented);
            }

            if (rentedState is not null)
            {
                ArrayPool<byte>.Shared.Return(rentedState);
            }
        }
    }

    /// <summary>
    /// The layer variant of Hamilton: water-filled quotas by memory, floors, then the layers left over go to the
    /// devices with the most memory left after their floors (ties: larger remainder, then lower index), never to a
    /// device that would exceed its cap. Only devices with a fractional quota take a leftover layer, so the quota rule
    /// still holds.
    /// </summary>
    public static void ComputeLayers(
        long layers,
        ReadOnlySpan<double> weights,
        ReadOnlySpan<long> minimums,
        ReadOnlySpan<long> caps,
        ReadOnlySpan<long> memoryBytes,
        long bytesPerLayer,
        Span<long> counts)
    {
        var k = weights.Length;
        var quotas = new double[k];
        var keys = new double[k];
        var scratch = new double[k];
        var state = new byte[k];
        var bounds = new Bounds(weights, minimums, caps);
        WaterFill(layers, bounds, quotas, state);
        for (var i = 0; i < k; i++)
        {
            var floor = Math.Clamp((long)Math.Floor(quotas[i]), bounds.Low(i), bounds.High(i));
            var remainder = quotas[i] - Math.Floor(quotas[i]);

            // Slack: bytes left after the floor. Devices with no fractional share rank below every device with one.
            // The remainder breaks ties between equal slack (scaled well below one byte).
            keys[i] = remainder > 0 ? (double)(memoryBytes[i] - (floor * bytesPerLayer)) + (remainder * 0.5) : -1;
        }

        RoundQuotas(layers, quotas, keys, bounds, counts, scratch);
    }

    /// <summary>Adds without overflowing: saturates at <see cref="long.MaxValue"/>.</summary>
    public static long SaturatingAdd(long a, long b)
    {
        var sum = a + b;
        return ((a ^ sum) & (b ^ sum)) < 0 ? long.MaxValue : sum;
    }

    private static void CheckBounds(ReadOnlySpan<long> bounds, int devices, string paramName)
    {
        if (bounds.IsEmpty)
        {
            return;
        }

        if (bounds.Length != devices)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"{paramName} has {bounds.Length} entries for {devices} devices; give one per device or none."),
                paramName);
        }

        for (var i = 0; i < bounds.Length; i++)
        {
            if (bounds[i] < 0)
            {
                throw new ArgumentOutOfRangeException(
                    paramName,
                    bounds[i],
                    string.Create(CultureInfo.InvariantCulture, $"{paramName}[{i}] must be 0 or more, got {bounds[i]}."));
            }
        }
    }

    /// <summary>
    /// Writes the water-filled quotas: <c>clamp(λ·wᵢ, lowᵢ, highᵢ)</c> adding up to <paramref name="items"/>.
    /// Bitran–Hax: solve for the free devices, then fix at their bound the devices on the side (above caps or below
    /// minimums) whose total violation is larger; that side stays violated at the true λ. Each round fixes at least one
    /// device.
    /// </summary>
    private static WaterLevel WaterFill(long items, in Bounds bounds, Span<double> quotas, Span<byte> state)
    {
        var k = quotas.Length;
        for (var i = 0; i < k; i++)
        {
            state[i] = bounds.Weight(i) == 0 ? AtMinimum : Free;
        }

        while (true)
        {
            long fixedSum = 0;
            double freeWeight = 0;
            var freeCount = 0;
            for (var i = 0; i < k; i++)
            {
                switch (state[i])
                {
                    case Free:
                        freeWeight += bounds.Weight(i);
                        freeCount++;
                        break;
                    case AtMinimum:
                        fixedSum += bounds.Low(i);
                        break;
                    default:
                        fixedSum += bounds.High(i);
                        break;
                }
            }

            double rest = items - fixedSum;
            double over = 0;
            double under = 0;
            for (var i = 0; i < k; i++)
            {
                switch (state[i])
                {
                    case Free:
                        var x = rest * bounds.Weight(i) / freeWeight;
                        quotas[i] = x;
                        if (x > bounds.High(i))
                        {
                            over += x - bounds.High(i);
                        }
                        else if (x < bounds.Low(i))
                        {
                            under += bounds.Low(i) - x;
                        }

                        break;
                    case AtMinimum:
                        quotas[i] = bounds.Low(i);
                        break;
                    default:
                        quotas[i] = bounds.High(i);
                        break;
                }
            }

            if (freeWeight == 0 || (over == 0 && under == 0))
            {
                return new WaterLevel(rest, freeWeight, freeCount);
            }

            var fixAtCap = over >= under;
            for (var i = 0; i < k; i++)
            {
                if (state[i] != Free)
                {
                    continue;
                }

                if (fixAtCap && quotas[i] > bounds.High(i))
                {
                    state[i] = AtCap;
                }
                else if (!fixAtCap && quotas[i] < bounds.Low(i))
                {
                    state[i] = AtMinimum;
                }
            }
        }
    }

    /// <summary>
    /// Where the water settled: <see cref="Rest"/> items shared by the free devices of total weight
    /// <see cref="FreeWeight"/> (0 when every device sits at a bound).
    /// </summary>
    private readonly record struct WaterLevel(double Rest, double FreeWeight, int FreeCount)
    {
        /// <summary>λ: a free device's quota is λ × its weight; NaN when no device is free.</summary>
        public double Multiplier => FreeWeight > 0 ? Rest / FreeWeight : double.NaN;
    }

    /// <summary>Each device's weight and bounds; a device of weight 0 is pinned at its minimum.</summary>
    internal readonly ref struct Bounds
    {
        private readonly ReadOnlySpan<double> _weights;
        private readonly ReadOnlySpan<long> _minimums;
        private readonly ReadOnlySpan<long> _caps;

        public Bounds(ReadOnlySpan<double> weights, ReadOnlySpan<long> minimums, ReadOnlySpan<long> caps)
        {
            _weights = weights;
            _minimums = minimums;
            _caps = caps;
        }

        public double Weight(int i) => _weights[i];

        public long Low(int i) => _minimums.IsEmpty ? 0 : _minimums[i];

        public long High(int i) => _weights[i] == 0 ? Low(i) : _caps.IsEmpty ? MaxItems : Math.Min(_caps[i], MaxItems);
    }
}
