namespace Exo.Gpu.Clustering.Distribution;

/// <summary>
/// The devices cannot hold every item: their caps (or, for layers, their memory) add up to less than the items to
/// place. Nothing was placed. <see cref="ArgumentException.ParamName"/> names the argument that limits the capacity.
/// </summary>
/// <remarks>
/// The distributor never drops items silently: callers that accept a partial placement opt in with
/// <c>allowUnassigned</c> and read the unassigned count instead of catching this exception.
/// </remarks>
public sealed class InsufficientCapacityException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public InsufficientCapacityException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public InsufficientCapacityException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public InsufficientCapacityException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a placement that does not fit.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="paramName">The argument that limits the capacity (e.g. <c>caps</c>).</param>
    /// <param name="items">How many items were to be placed.</param>
    /// <param name="capacity">How many the devices can hold.</param>
    public InsufficientCapacityException(string message, string? paramName, long items, long capacity)
        : base(message, paramName)
    {
        Items = items;
        Capacity = capacity;
    }

    /// <summary>How many items were to be placed.</summary>
    public long Items { get; }

    /// <summary>How many items the devices can hold.</summary>
    public long Capacity { get; }
}
