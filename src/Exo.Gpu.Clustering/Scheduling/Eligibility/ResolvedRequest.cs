using System.Globalization;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// What a selector derives from a request for one device set: which slots the request's static constraints allow
/// (the static rules of <see cref="EligibilityRules"/>: include/exclude lists, name, compute capability, capacity).
/// Immutable; cached on the request.
/// </summary>
internal sealed class ResolvedRequest
{
    private ResolvedRequest(SlotTable table, bool[] allowed, int allowedCount)
    {
        Table = table;
        Allowed = allowed;
        AllowedCount = allowedCount;

        // The shorter of the two lists: the allowed slots, or the slots not allowed (from a count over every slot).
        CountsEverySlot = allowedCount * 2 > allowed.Length;
        var exceptions = new int[CountsEverySlot ? allowed.Length - allowedCount : allowedCount];
        for (int slot = 0, k = 0; slot < allowed.Length; slot++)
        {
            if (allowed[slot] != CountsEverySlot)
            {
                exceptions[k++] = slot;
            }
        }

        CountExceptions = exceptions;
    }

    /// <summary>The table this was derived for.</summary>
    public SlotTable Table { get; }

    /// <summary>Per slot: whether every static rule passes.</summary>
    public bool[] Allowed { get; }

    /// <summary>How many slots pass every static rule: below the device count, the request can never be granted.</summary>
    public int AllowedCount { get; }

    /// <summary>
    /// How a waiting request is counted per device, in O(min(allowed, not allowed)) rather than O(devices): when
    /// <see langword="true"/>, once on every slot less once on each of <see cref="CountExceptions"/>; otherwise once on
    /// each of <see cref="CountExceptions"/> only. An unconstrained request counts in O(1).
    /// </summary>
    public bool CountsEverySlot { get; }

    /// <summary>
    /// The slots not allowed (when <see cref="CountsEverySlot"/>), or the slots allowed (otherwise; then selection walks
    /// only these), in slot order.
    /// </summary>
    public int[] CountExceptions { get; }

    /// <summary>The request's static constraints for this table, from the request's cache or derived (and validated) once.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The request asks for more devices than the table has (the parameter name is <c>DeviceCount</c>).</exception>
    /// <exception cref="ArgumentException">The request names a device the table does not have, or its include and exclude lists leave too few devices (the parameter name is the property).</exception>
    public static ResolvedRequest Of(GpuRequest request, SlotTable table)
    {
        var resolved = request.Resolved;
        if (resolved is not null && ReferenceEquals(resolved.Table, table))
        {
            return resolved;
        }

        resolved = Build(request, table);
        request.Resolved = resolved;
        return resolved;
    }

    /// <summary>
    /// A request property that does not fit the cluster: the exception's parameter name is the property's, as when
    /// the property itself rejects a value (see <see cref="GpuRequest"/>).
    /// </summary>
    public static ArgumentException InvalidField(string field, string message) => new(message, field);

    private static ArgumentOutOfRangeException FieldOutOfRange(string field, object value, string message) => new(field, value, message);

    private static ResolvedRequest Build(GpuRequest request, SlotTable table)
    {
        if (request.DeviceCount > table.Count)
        {
            throw FieldOutOfRange(
                nameof(GpuRequest.DeviceCount),
                request.DeviceCount,
                string.Create(CultureInfo.InvariantCulture, $"The request asks for {request.DeviceCount} devices, but the cluster has {table.Count}."));
        }

        CheckKnown(table, request.IncludeIndexes, nameof(GpuRequest.IncludeIndexes));
        CheckKnown(table, request.ExcludeIndexes, nameof(GpuRequest.ExcludeIndexes));
        CheckKnown(table, request.IncludeUuids, nameof(GpuRequest.IncludeUuids));
        CheckKnown(table, request.ExcludeUuids, nameof(GpuRequest.ExcludeUuids));

        var allowed = new bool[table.Count];
        int selectable = 0, allowedCount = 0;
        for (var slot = 0; slot < table.Count; slot++)
        {
            if (!EligibilityRules.PassesIdentity(request, table.Devices[slot], default(NoReasons)))
            {
                continue;
            }

            selectable++;
            if (EligibilityRules.PassesModelAndCapacity(request, table, slot, default(NoReasons)))
            {
                allowed[slot] = true;
                allowedCount++;
            }
        }

        if (selectable < request.DeviceCount)
        {
            var field = selectable > 0 ? nameof(GpuRequest.DeviceCount)
                : request.ExcludeIndexes is { Count: > 0 } ? nameof(GpuRequest.ExcludeIndexes)
                : request.ExcludeUuids is { Count: > 0 } ? nameof(GpuRequest.ExcludeUuids)
                : nameof(GpuRequest.IncludeIndexes);
            throw InvalidField(
                field,
                string.Create(CultureInfo.InvariantCulture, $"The include and exclude lists leave {selectable} of the cluster's {table.Count} devices, but the request needs {request.DeviceCount}."));
        }

        return new ResolvedRequest(table, allowed, allowedCount);
    }

    private static void CheckKnown(SlotTable table, IReadOnlyList<int>? indexes, string field)
    {
        if (indexes is null)
        {
            return;
        }

        foreach (var index in indexes)
        {
            if (Array.FindIndex(table.Devices, d => d.Index == index) < 0)
            {
                throw InvalidField(field, string.Create(CultureInfo.InvariantCulture, $"No device has index {index}."));
            }
        }
    }

    private static void CheckKnown(SlotTable table, IReadOnlyList<string>? uuids, string field)
    {
        if (uuids is null)
        {
            return;
        }

        foreach (var uuid in uuids)
        {
            if (!table.SlotByUuid.ContainsKey(uuid))
            {
                throw InvalidField(field, $"No device has UUID '{uuid}'.");
            }
        }
    }
}
