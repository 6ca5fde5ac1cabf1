namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The reasons a device is rejected, each weighted by how far it puts the device from qualifying, so the nearest
/// device can be named: a request that only lacks room waits for a release, one that names another model never fits.
/// </summary>
internal sealed class Rejections : List<string>
{
    /// <summary>Excluded or not included by the request's identity lists.</summary>
    public const int Identity = 10_000;

    /// <summary>Another model: name or compute capability.</summary>
    public const int Model = 5_000;

    /// <summary>The request is larger than the device's capacity.</summary>
    public const int TooSmall = 1_000;

    /// <summary>Unhealthy, lost, unknown or stale.</summary>
    public const int Down = 100;

    /// <summary>Too hot or too busy, or does not report what the request limits.</summary>
    public const int Load = 10;

    /// <summary>Degraded, or a reading a little too old for the request.</summary>
    public const int Mild = 5;

    /// <summary>Not enough room after reservations, or no free concurrency slot: a release fixes it.</summary>
    public const int Room = 1;

    /// <summary>The sum of the weights of the reasons added.</summary>
    public int Distance { get; private set; }

    public void Add(string reason, int weight)
    {
        Add(reason);
        Distance += weight;
    }
}
