using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// Filters, ranks and picks: runs the state rules (<see cref="EligibilityRules"/>) over the slots a request's static
/// constraints allow, ranks the eligible devices by the request's strategy (<see cref="GpuSelectionStrategy"/>) and
/// picks as many as it needs. Allocates nothing: the candidates live on the stack, or in a pooled array above
/// <see cref="StackLimit"/> devices. Owns the round-robin counter and the random strategies' position, both advanced
/// atomically, so it needs no lock; the callers that reserve what it picks hold the selector's lock.
/// </summary>
[DebuggerDisplay("Default = {_defaultStrategy}, RoundRobin = {_roundRobin}, Draws = {_draws}")]
internal sealed class Ranker
{
    /// <summary>Above this many devices, candidate buffers come from the array pool instead of the stack.</summary>
    private const int StackLimit = 128;

    /// <summary>The eligibility rules.</summary>
    private readonly EligibilityRules _rules;

    /// <summary>The score of <see cref="GpuSelectionStrategy.BestScore"/> and the random strategies.</summary>
    private readonly Scorer _scorer;

    /// <summary>The lease accounting (reserved bytes and active leases per device), read without its lock.</summary>
    private readonly LeaseLedger _ledger;

    /// <summary>The strategy for requests that name none.</summary>
    private readonly GpuSelectionStrategy _defaultStrategy;

    /// <summary>How many of the best devices <see cref="GpuSelectionStrategy.RandomTopK"/> draws from.</summary>
    private readonly int _topK;

    /// <summary>The random strategies' seed.</summary>
    private readonly ulong _seed;

    /// <summary>The round-robin counter.</summary>
    private long _roundRobin;

    /// <summary>How many random draws have been made (the random strategies' position in their sequence).</summary>
    private long _draws;

    public Ranker(DeviceSelectorOptions options, EligibilityRules rules, Scorer scorer, LeaseLedger ledger)
    {
        _rules = rules;
        _scorer = scorer;
        _ledger = ledger;
        _defaultStrategy = options.DefaultStrategy;
        _topK = options.RandomTopK;
#pragma warning disable CA5394 // Scheduling randomness, not security.
        _seed = unchecked((ulong)(options.Seed ?? Random.Shared.Next()));
#pragma warning restore CA5394
    }

    /// <summary>The request's strategy, or the default.</summary>
    public GpuSelectionStrategy StrategyOf(GpuRequest request) => request.Strategy ?? _defaultStrategy;

    /// <summary>
    /// Filters, ranks and picks <c>chosen.Length</c> devices into <paramref name="chosen"/> (slots, best first).
    /// <paramref name="advance"/> moves the round-robin counter and the random sequence on; explanations peek without
    /// moving them.
    /// </summary>
    /// <param name="states">The device states.</param>
    /// <param name="request">The request.</param>
    /// <param name="resolved">Its static constraints for <paramref name="table"/>.</param>
    /// <param name="table">The device set.</param>
    /// <param name="chosen">Receives the chosen slots, best first; its length is the number of devices wanted.</param>
    /// <param name="advance">Whether to move the round-robin counter and the random sequence on.</param>
    /// <param name="picks">Empty, or one entry per chosen device: what the scan saw of it (for <see cref="StillAsSeen"/>).</param>
    /// <returns>Whether enough devices are eligible.</returns>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public bool TrySelect<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, SlotTable table, Span<int> chosen, bool advance, Span<Candidate> picks = default)
        where TStates : struct, IStateReader
    {
        // The stack buffer lives in a method without loops, so that the scanning method below is tiered up with
        // profile data like any other (a method with both loops and stackalloc is compiled once, without it).
        if (IsSingle(request, chosen.Length))
        {
            return Scan(states, request, resolved, table, chosen, advance, default, picks);
        }

        if (table.Count > StackLimit)
        {
            return TrySelectRented(states, request, resolved, table, chosen, advance, picks);
        }

        return TrySelectOnStack(states, request, resolved, table, chosen, advance, picks);
    }

    /// <summary>
    /// Whether the reservations and leases of every picked device are still what the scan that picked it saw: then its
    /// verdict and its rank against the devices the scan passed over stand (another grant only lowers those), so the
    /// choice may be granted. The re-check, under the selector's lock, of a choice made by a scan outside it: constant
    /// time, one pair of reads per chosen device.
    /// </summary>
    public bool StillAsSeen(ReadOnlySpan<Candidate> picks)
    {
        foreach (var pick in picks)
        {
            if (_ledger.ReservedBytes(pick.Slot) != pick.Reserved || _ledger.LeaseCount(pick.Slot) != pick.Leases)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The candidate list on the stack, in its own method so the single-device path carries no stack buffer (nor its guard).</summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TrySelectOnStack<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, SlotTable table, Span<int> chosen, bool advance, Span<Candidate> picks)
        where TStates : struct, IStateReader
    {
        Span<Candidate> candidates = stackalloc Candidate[table.Count];
        return Scan(states, request, resolved, table, chosen, advance, candidates, picks);
    }

    private bool TrySelectRented<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, SlotTable table, Span<int> chosen, bool advance, Span<Candidate> picks)
        where TStates : struct, IStateReader
    {
        var rented = ArrayPool<Candidate>.Shared.Rent(table.Count);
        try
        {
            return Scan(states, request, resolved, table, chosen, advance, rented, picks);
        }
        finally
        {
            ArrayPool<Candidate>.Shared.Return(rented);
        }
    }

    /// <summary>One device by a deterministic strategy (the common case): the scan keeps the best in hand and needs no candidate list.</summary>
    private bool IsSingle(GpuRequest request, int count) =>
        count == 1 && StrategyOf(request) is not (GpuSelectionStrategy.RandomTopK or GpuSelectionStrategy.PowerOfTwoChoices);

    /// <summary>
    /// Filters, ranks and picks <c>chosen.Length</c> devices, using <paramref name="candidates"/> (at least one entry
    /// per device, or empty for a single deterministic pick) as scratch, so it allocates nothing.
    /// </summary>
    private bool Scan<TStates>(TStates states, GpuRequest request, ResolvedRequest resolved, SlotTable table, Span<int> chosen, bool advance, Span<Candidate> candidates, Span<Candidate> picks)
        where TStates : struct, IStateReader
    {
        var count = chosen.Length;
        if (resolved.AllowedCount < count)
        {
            return false;
        }

        var strategy = StrategyOf(request);
        var n = table.Count;
        var start = 0;
        if (strategy == GpuSelectionStrategy.RoundRobin)
        {
            var ticket = advance ? Interlocked.Increment(ref _roundRobin) - 1 : Volatile.Read(ref _roundRobin);
            start = (int)((ulong)ticket % (ulong)n);
        }

        var m = 0;
        var allowed = resolved.Allowed;
        var capacity = table.Capacity;
        var ledger = _ledger;
        var rules = _rules;
        var needAge = request.MaxTelemetryAge.HasValue;
        var single = IsSingle(request, count);

        // When the static constraints allow one device for a one-device request (a pinned request, a one-device
        // cluster), it is taken if eligible: there is nothing to rank.
        var rank = !(single && resolved.AllowedCount == 1);
        var best = default(Candidate);
        // A request its static constraints confine to few devices (pinned, included) walks only those, in slot order.
        var sparse = !resolved.CountsEverySlot;
        var allowedSlots = resolved.CountExceptions;
        var end = sparse ? allowedSlots.Length : n;
        for (var i = 0; i < end; i++)
        {
            var slot = sparse ? allowedSlots[i] : i;
            if (!sparse && !allowed[slot])
            {
                continue;
            }

            var reading = new Reading(states.Get(slot), needAge);
            var reserved = ledger.ReservedBytes(slot);
            var leases = ledger.LeaseCount(slot);
            if (!rules.PassesState(request, reading, capacity[slot], reserved, leases, default(NoReasons), out var available))
            {
                continue;
            }

            var c = new Candidate
            {
                Slot = slot,
                Key = rank ? Key(strategy, reading, available, table, slot, start, reserved, leases) : 0,
                Tie = rank && strategy == GpuSelectionStrategy.LeastLoaded ? _scorer.Total(reading, available, table) : 0,
                Reserved = reserved,
                Leases = leases,
            };
            if (single)
            {
                if (m++ == 0 || Candidate.Better(c, best))
                {
                    best = c;
                }
            }
            else
            {
                candidates[m++] = c;
            }
        }

        if (m < count)
        {
            return false;
        }

        if (single)
        {
            chosen[0] = best.Slot;
            if (!picks.IsEmpty)
            {
                picks[0] = best;
            }

            return true;
        }

        Pick(strategy, candidates[..m], chosen, advance);
        if (!picks.IsEmpty)
        {
            // Pick leaves the chosen candidates, in order, at the front.
            candidates[..count].CopyTo(picks);
        }

        return true;
    }

    /// <summary>The strategy's ranking key of an eligible device: higher is better.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private double Key(GpuSelectionStrategy strategy, Reading reading, long available, SlotTable table, int slot, int roundRobinStart, long reserved, int leases) => strategy switch
    {
        GpuSelectionStrategy.MostFreeMemory => available,
        GpuSelectionStrategy.LeastUtilized => reading.HasUtilization ? -reading.Utilization : -1000,
        GpuSelectionStrategy.BestFit => -available,
        GpuSelectionStrategy.RoundRobin => -((slot - roundRobinStart + table.Count) % table.Count),
        GpuSelectionStrategy.LeastLoaded => -Load(leases, reserved, table.Capacity[slot]),
        _ => _scorer.Total(reading, available, table),
    };

    /// <summary>
    /// The load of a device for <see cref="GpuSelectionStrategy.LeastLoaded"/>, ordered as the pair (active leases,
    /// reserved fraction of its capacity): <c>2 × leases + fraction</c> with the fraction clamped to [0, 1], so a device
    /// with fewer leases is always less loaded, whatever the fractions, and equal lease counts compare by fraction.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double Load(int leases, long reserved, long capacity)
    {
        var fraction = capacity > 0 ? Math.Min(1.0, (double)reserved / capacity) : reserved > 0 ? 1.0 : 0.0;
        return (2.0 * leases) + fraction;
    }

    /// <summary>Picks <c>chosen.Length</c> of the eligible <paramref name="candidates"/> by the strategy.</summary>
    private void Pick(GpuSelectionStrategy strategy, Span<Candidate> candidates, Span<int> chosen, bool advance)
    {
        var count = chosen.Length;
        var m = candidates.Length;
        if (strategy is GpuSelectionStrategy.RandomTopK or GpuSelectionStrategy.PowerOfTwoChoices)
        {
            var draws = 2 * count;
            var position = advance ? Interlocked.Add(ref _draws, draws) - draws : Volatile.Read(ref _draws);
            var random = new SplitMix(_seed, position);
            if (strategy == GpuSelectionStrategy.RandomTopK)
            {
                var k = Math.Min(m, Math.Max(_topK, count));
                SortBest(candidates, k);
                for (var i = 0; i < count; i++)
                {
                    Swap(candidates, i, i + random.Next(k - i));
                    chosen[i] = candidates[i].Slot;
                }
            }
            else
            {
                for (var i = 0; i < count; i++)
                {
                    var left = m - i;
                    if (left > 1)
                    {
                        var a = i + random.Next(left);
                        var b = i + random.Next(left - 1);
                        if (b >= a)
                        {
                            b++;
                        }

                        Swap(candidates, i, Candidate.Better(candidates[a], candidates[b]) ? a : b);
                    }

                    chosen[i] = candidates[i].Slot;
                }
            }

            return;
        }

        SortBest(candidates, count);
        for (var i = 0; i < count; i++)
        {
            chosen[i] = candidates[i].Slot;
        }
    }

    /// <summary>Moves the best <paramref name="k"/> candidates, in order, to the front (partial selection sort: k is small).</summary>
    private static void SortBest(Span<Candidate> candidates, int k)
    {
        for (var i = 0; i < k; i++)
        {
            var best = i;
            for (var j = i + 1; j < candidates.Length; j++)
            {
                if (Candidate.Better(candidates[j], candidates[best]))
                {
                    best = j;
                }
            }

            Swap(candidates, i, best);
        }
    }

    private static void Swap(Span<Candidate> candidates, int i, int j)
    {
        if (i != j)
        {
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
        }
    }
}
