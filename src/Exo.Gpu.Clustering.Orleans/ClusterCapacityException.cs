namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// A cluster request found no host (or set of hosts) that could grant it within the pool's bounded attempts; the
/// message says what the last view had and why each tried host refused.
/// </summary>
public sealed class ClusterCapacityException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ClusterCapacityException()
        : base("No host of the cluster could grant the request.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What was tried and why it failed.</param>
    public ClusterCapacityException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    /// <param name="message">What was tried and why it failed.</param>
    /// <param name="innerException">The cause.</param>
    public ClusterCapacityException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a request.</summary>
    /// <param name="requestId">The request's id.</param>
    /// <param name="attempts">How many rounds were tried.</param>
    /// <param name="message">What was tried and why it failed.</param>
    public ClusterCapacityException(string requestId, int attempts, string message)
        : base(message)
    {
        RequestId = requestId;
        Attempts = attempts;
    }

    /// <summary>The request's id, when known.</summary>
    public string? RequestId { get; }

    /// <summary>How many planning rounds were tried.</summary>
    public int Attempts { get; }
}
