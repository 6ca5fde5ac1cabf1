namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// What a selector derives from a request for one device table: which slots the request's static constraints allow
/// (include/exclude lists, name, compute capability, capacity). Immutable; cached on the request.
/// </summary>
internal sealed class ResolvedRequest(DeviceTable table, bool[] allowed, int allowedCount)
{
    /// <summary>The table this was derived for.</summary>
    public DeviceTable Table { get; } = table;

    /// <summary>Per slot: whether every static constraint passes.</summary>
    public bool[] Allowed { get; } = allowed;

    /// <summary>How many slots pass every static constraint: below the device count, the request can never be granted.</summary>
    public int AllowedCount { get; } = allowedCount;
}
