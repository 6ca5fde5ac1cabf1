using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>
/// A schedule of faults for the simulated backend: which device, what, when and for how long. Immutable.
/// </summary>
public sealed class SimulatedFaultPlan
{
    private static readonly (string Name, SimulatedFaultKind Kind)[] KindNames =
    [
        ("lost", SimulatedFaultKind.Lost),
        ("throw", SimulatedFaultKind.Throw),
        ("hang", SimulatedFaultKind.Hang),
        ("hot", SimulatedFaultKind.Hot),
        ("ecc", SimulatedFaultKind.EccUncorrectable),
        ("xid", SimulatedFaultKind.Xid),
    ];

    /// <summary>Creates a plan of the given faults.</summary>
    /// <param name="faults">The faults; none <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="faults"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="faults"/> holds <see langword="null"/>.</exception>
    public SimulatedFaultPlan(IEnumerable<SimulatedFault> faults)
    {
        ArgumentNullException.ThrowIfNull(faults);
        var array = faults.ToArray();
        if (Array.IndexOf(array, null) >= 0)
        {
            throw new ArgumentException("A fault plan cannot hold a null fault.", nameof(faults));
        }

        // Stable order by start time keeps event streams deterministic.
        Faults = [.. array.Select((f, i) => (f, i)).OrderBy(p => p.f.At).ThenBy(p => p.i).Select(p => p.f)];
    }

    /// <summary>A plan with no faults.</summary>
    public static SimulatedFaultPlan None { get; } = new([]);

    /// <summary>The faults, ordered by start time.</summary>
    public IReadOnlyList<SimulatedFault> Faults { get; }

    /// <summary>
    /// Reads a plan written as comma-separated faults <c>kind:device@start[+duration][#xid]</c>, where kind is
    /// <c>lost</c>, <c>throw</c>, <c>hang</c>, <c>hot</c>, <c>ecc</c> or <c>xid</c>, and times are numbers with a unit
    /// <c>ms</c>, <c>s</c>, <c>m</c> or <c>h</c>. Example: <c>lost:2@30s+60s,hot:0@5s,xid:1@10s#48</c>.
    /// </summary>
    /// <param name="text">The plan; empty means no faults.</param>
    /// <returns>The plan.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is <see langword="null"/>.</exception>
    /// <exception cref="FormatException">A fault is malformed; the message quotes it.</exception>
    public static SimulatedFaultPlan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var faults = new List<SimulatedFault>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            faults.Add(ParseOne(raw));
        }

        return new SimulatedFaultPlan(faults);
    }

    /// <summary>Formats in the form <see cref="Parse"/> reads.</summary>
    public override string ToString() => string.Join(',', Faults);

    internal static string KindName(SimulatedFaultKind kind) => Array.Find(KindNames, k => k.Kind == kind).Name;

    private static SimulatedFault ParseOne(string raw)
    {
        var colon = raw.IndexOf(':', StringComparison.Ordinal);
        var at = raw.IndexOf('@', StringComparison.Ordinal);
        if (colon <= 0 || at < colon + 2)
        {
            throw Bad(raw, "expected kind:device@start");
        }

        var kindText = raw[..colon];
        var match = Array.FindIndex(KindNames, k => string.Equals(k.Name, kindText, StringComparison.OrdinalIgnoreCase));
        if (match < 0)
        {
            throw Bad(raw, $"unknown kind '{kindText}' (lost, throw, hang, hot, ecc, xid)");
        }

        if (!int.TryParse(raw.AsSpan(colon + 1, at - colon - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var device))
        {
            throw Bad(raw, "the device must be a non-negative index");
        }

        var rest = raw[(at + 1)..];
        var code = 0;
        var hash = rest.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            if (!int.TryParse(rest.AsSpan(hash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out code))
            {
                throw Bad(raw, "the Xid after '#' must be a non-negative number");
            }

            rest = rest[..hash];
        }

        TimeSpan? duration = null;
        var plus = rest.IndexOf('+', StringComparison.Ordinal);
        if (plus >= 0)
        {
            if (!DurationText.TryParse(rest[(plus + 1)..], out var d) || d <= TimeSpan.Zero)
            {
                throw Bad(raw, "the duration after '+' must be a positive time such as 30s");
            }

            duration = d;
            rest = rest[..plus];
        }

        if (!DurationText.TryParse(rest, out var start))
        {
            throw Bad(raw, "the start after '@' must be a time such as 10s");
        }

        return new SimulatedFault(device, KindNames[match].Kind, start, duration, code);
    }

    private static FormatException Bad(string raw, string why) => new($"Bad fault '{raw}': {why}.");
}
