using Orleans.Concurrency;

namespace Exo.Gpu.Clustering.Orleans.Benchmarks;

/// <summary>The Orleans floor: a grain call that does nothing, so a round trip costs only Orleans and the network.</summary>
public interface IPingGrain : IGrainWithIntegerKey
{
    /// <summary>Returns at once.</summary>
    Task PingAsync();
}

/// <summary>Answers <see cref="IPingGrain.PingAsync"/> at once; reentrant, like the host and directory grains.</summary>
[Reentrant]
internal sealed class PingGrain : Grain, IPingGrain
{
    public Task PingAsync() => Task.CompletedTask;
}
