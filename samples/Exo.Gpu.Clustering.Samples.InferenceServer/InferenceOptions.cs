namespace Exo.Gpu.Clustering.Samples.InferenceServer;

/// <summary>The server's own settings (configuration section <c>Inference</c>).</summary>
internal sealed class InferenceOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Inference";

    /// <summary>How long a request waits for GPU capacity before it is answered 503 (2 s by default).</summary>
    public TimeSpan AcquireTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>What a 503 tells the client to wait before retrying (<c>Retry-After</c>, whole seconds, at least 1; 1 s by default).</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest run a request may ask for (<c>ms</c>; 1 minute by default).</summary>
    public TimeSpan MaxRunTime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary><see cref="RetryAfter"/> as the header's whole seconds, rounded up.</summary>
    public int RetryAfterSeconds => (int)Math.Max(1, Math.Ceiling(RetryAfter.TotalSeconds));
}
