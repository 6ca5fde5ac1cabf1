using System.Globalization;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// Builds <see cref="GpuSelectionExplanation"/>s: every device's verdict from the same eligibility rules the selection
/// runs (with a sink that collects every reason), its score's components, the choice the selection would make now on
/// the same states, and the nearest device when nothing fits. Stateless: the parts it reads own their state.
/// </summary>
internal sealed class Explainer
{
    /// <summary>Where device states come from.</summary>
    private readonly IDeviceStateSource _source;

    /// <summary>The eligibility rules.</summary>
    private readonly EligibilityRules _rules;

    /// <summary>The score whose components the verdicts show.</summary>
    private readonly Scorer _scorer;

    /// <summary>The ranking that makes the choice (peeking: it does not advance its sequences).</summary>
    private readonly Ranker _ranker;

    /// <summary>The lease accounting the verdicts show.</summary>
    private readonly LeaseLedger _ledger;

    public Explainer(IDeviceStateSource source, EligibilityRules rules, Scorer scorer, Ranker ranker, LeaseLedger ledger)
    {
        _source = source;
        _rules = rules;
        _scorer = scorer;
        _ranker = ranker;
        _ledger = ledger;
    }

    /// <summary>Judges every device of <paramref name="table"/> for the request, and what would be chosen now.</summary>
    public GpuSelectionExplanation Explain(GpuRequest request, SlotTable table, ResolvedRequest resolved)
    {
        var n = table.Count;
        var states = new DeviceState[n];
        var live = new LiveStates(_source);
        for (var slot = 0; slot < n; slot++)
        {
            states[slot] = live.Get(slot);
        }

        var verdicts = new GpuDeviceVerdict[n];
        for (var slot = 0; slot < n; slot++)
        {
            var reasons = new Rejections();
            var sink = new CollectReasons(reasons);
            var state = states[slot];
            var reading = new Reading(state, needAge: true);
            var capacity = table.Capacity[slot];
            var reserved = _ledger.ReservedBytes(slot);
            var leases = _ledger.LeaseCount(slot);
            EligibilityRules.PassesStatic(request, table, slot, sink);
            _rules.PassesState(request, reading, capacity, reserved, leases, sink, out var available);
            verdicts[slot] = new GpuDeviceVerdict(
                table.Devices[slot],
                state.Health,
                reasons.AsReadOnly(),
                reasons.Distance,
                capacity,
                reserved,
                state.HasFreshSample ? state.Sample.MemoryFreeBytes : null,
                available,
                leases,
                state.HasFreshSample ? _scorer.Breakdown(reading, available, table) : null,
                state.SampleAge);
        }

        var chosenSlots = new int[request.DeviceCount];
        var fits = _ranker.TrySelect(new SnapshotStates(states), request, resolved, table, chosenSlots, advance: false);
        var chosen = fits ? Array.ConvertAll(chosenSlots, s => table.Devices[s]) : [];
        return new GpuSelectionExplanation(request, _ranker.StrategyOf(request), verdicts, chosen, fits ? null : Nearest(request, verdicts));
    }

    /// <summary>The exception for a request that does not fit: it names the nearest device and why.</summary>
    public static NoEligibleGpuException NoEligible(GpuSelectionExplanation explanation)
    {
        var request = explanation.Request;
        var eligible = 0;
        foreach (var d in explanation.Devices)
        {
            eligible += d.Eligible ? 1 : 0;
        }

        var message = request.DeviceCount == 1
            ? $"No device satisfies the request ({request})"
            : string.Create(CultureInfo.InvariantCulture, $"The request ({request}) needs {request.DeviceCount} devices, but {eligible} {(eligible == 1 ? "is" : "are")} eligible");
        message += explanation.Nearest is { } nearest
            ? $"; nearest: {nearest.Device}: {string.Join("; ", nearest.Reasons)}."
            : "; the cluster has no device.";
        return new NoEligibleGpuException(message, explanation);
    }

    /// <summary>The rejected device closest to qualifying: the smallest <see cref="Rejections.Distance"/>, then the smallest memory shortfall, then the lowest slot.</summary>
    private static GpuDeviceVerdict? Nearest(GpuRequest request, GpuDeviceVerdict[] verdicts)
    {
        GpuDeviceVerdict? best = null;
        foreach (var v in verdicts)
        {
            if (v.Eligible)
            {
                continue;
            }

            if (best is null || Closer(v, best, request.MemoryBytes))
            {
                best = v;
            }
        }

        return best;

        static bool Closer(GpuDeviceVerdict a, GpuDeviceVerdict b, long memory)
        {
            if (a.Distance != b.Distance)
            {
                return a.Distance < b.Distance;
            }

            return Math.Max(0, memory - a.FreeBytesAfterReservations) < Math.Max(0, memory - b.FreeBytesAfterReservations);
        }
    }
}
