using System.Buffers;
using System.Numerics;

namespace Exo.Gpu.Clustering.Distribution;

internal static partial class Apportioner
{
    /// <summary>
    /// Hamilton's floors and remainders in exact integer arithmetic: every free device's weight is a double, so
    /// <c>m × 2^e</c> exactly; scaled by the least <c>2^e</c> they are integers <c>Wᵢ</c>, and the quota of a free device
    /// is <c>rest × Wᵢ / ΣW</c> exactly, its floor and remainder an integer division. Writes each device's floor into
    /// <paramref name="quotas"/> (devices at a bound keep their bound) and, into <paramref name="keys"/>, the rank of its
    /// remainder (the remainder itself when every remainder is below 2⁵³; equal remainders, equal keys), so the rounding
    /// breaks ties by index only.
    /// </summary>
    /// <returns><see langword="false"/>, having written nothing, when the weights span too many powers of two for 128-bit
    /// integers (a scaled weight may take <c>127 − bits(rest)</c> bits, and their sum must stay below 2¹²⁷; e.g. 1e-300
    /// next to 1e300): the floating-point remainders are used then.</returns>
    private static bool TryExactHamilton(long items, in Bounds bounds, ReadOnlySpan<byte> state, Span<double> quotas, Span<double> keys)
    {
        var k = quotas.Length;
        long rest = items;
        var leastExponent = int.MaxValue;
        var anyFree = false;
        for (var i = 0; i < k; i++)
        {
            switch (state[i])
            {
                case Free:
                    Decompose(bounds.Weight(i), out _, out var exponent);
                    leastExponent = Math.Min(leastExponent, exponent);
                    anyFree = true;
                    break;
                case AtMinimum:
                    rest -= bounds.Low(i);
                    break;
                default:
                    rest -= bounds.High(i);
                    break;
            }
        }

        if (!anyFree || rest < 0)
        {
            return false;
        }

        // rest × Wᵢ < 2^(bits(rest) + bits(Wᵢ)) and ΣW < 2^(bits(k) + max bits(Wᵢ)): both must stay within 127 bits.
        var weightBits = 127 - Math.Max(BitLength((ulong)rest), BitLength((ulong)k));
        UInt128 total = 0;
        for (var i = 0; i < k; i++)
        {
            if (state[i] != Free)
            {
                continue;
            }

            Decompose(bounds.Weight(i), out var mantissa, out var exponent);
            var shift = exponent - leastExponent;
            if (BitLength(mantissa) + shift > weightBits)
            {
                return false;
            }

            var weight = (UInt128)mantissa << shift;
            total += weight;
            keys[i] = (double)weight; // kept for the fast path below, where every scaled weight is at most 2⁵³: exact
        }

        if (total <= (UInt128)(1UL << 53))
        {
            // Every remainder is below the total, so below 2⁵³: exact in a double, no ranking needed.
            for (var i = 0; i < k; i++)
            {
                if (state[i] != Free)
                {
                    keys[i] = 0;
                    continue;
                }

                // No division: the floating-point quota is within a few items of the exact one, so start from its floor
                // and correct it with exact products until 0 <= rest × Wᵢ − floor × ΣW < ΣW.
                var divisor = (long)(ulong)total;
                var product = (Int128)rest * (long)keys[i];
                var floor = Math.Clamp((long)Math.Floor(quotas[i]), 0, rest);
                var remainder = product - ((Int128)floor * divisor);
                while (remainder < 0)
                {
                    floor--;
                    remainder += divisor;
                }

                while (remainder >= divisor)
                {
                    floor++;
                    remainder -= divisor;
                }

                quotas[i] = floor;
                keys[i] = (double)(long)remainder;
            }

            return true;
        }

        UInt128[]? rented = null;
        int[]? rentedOrder = null;
        Span<UInt128> remainders = k <= StackDevices ? stackalloc UInt128[k] : (rented = ArrayPool<UInt128>.Shared.Rent(k)).AsSpan(0, k);
        Span<int> order = k <= StackDevices ? stackalloc int[k] : (rentedOrder = ArrayPool<int>.Shared.Rent(k)).AsSpan(0, k);
        try
        {
            for (var i = 0; i < k; i++)
            {
                order[i] = i;
                if (state[i] != Free)
                {
                    remainders[i] = 0;
                    continue;
                }

                Decompose(bounds.Weight(i), out var mantissa, out var exponent);
                var (floor, remainder) = UInt128.DivRem((UInt128)(ulong)rest * ((UInt128)mantissa << (exponent - leastExponent)), total);
                quotas[i] = (double)(ulong)floor; // at most rest, at most 2⁵³: exact
                remainders[i] = remainder;
            }

            // Dense ranks of the remainders: exact in a double, equal exactly where the remainders are equal.
            remainders.Sort(order);
            var rank = 0;
            for (var j = 0; j < k; j++)
            {
                if (j > 0 && remainders[j] != remainders[j - 1])
                {
                    rank++;
                }

                keys[order[j]] = rank;
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<UInt128>.Shared.Return(rented);
            }

            if (rentedOrder is not null)
            {
                ArrayPool<int>.Shared.Return(rentedOrder);
            }
        }

        return true;
    }

    private static int BitLength(ulong value) => 64 - BitOperations.LeadingZeroCount(value);

    /// <summary>A positive finite double as <c>mantissa × 2^exponent</c> with an odd mantissa.</summary>
    private static void Decompose(double value, out ulong mantissa, out int exponent)
    {
        var bits = (ulong)BitConverter.DoubleToInt64Bits(value);
        var biased = (int)((bits >> 52) & 0x7FF);
        mantissa = bits & ((1UL << 52) - 1);
        if (biased == 0)
        {
            exponent = -1074;
        }
        else
        {
            mantissa |= 1UL << 52;
            exponent = biased - 1075;
        }

        var zeros = BitOperations.TrailingZeroCount(mantissa);
        mantissa >>= zeros;
        exponent += zeros;
    }
}
