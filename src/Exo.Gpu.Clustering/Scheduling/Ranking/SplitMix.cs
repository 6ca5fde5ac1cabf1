namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>A SplitMix64 sequence: draw <c>i</c> is a pure function of the seed and the position, so it needs no lock.</summary>
/// <param name="seed">The sequence's seed.</param>
/// <param name="position">How many draws precede this one.</param>
internal struct SplitMix(ulong seed, long position)
{
    /// <summary>The generator's state: the seed advanced by the golden-ratio increment once per draw.</summary>
    private ulong _state = seed + (unchecked((ulong)position) * 0x9E3779B97F4A7C15UL);

    /// <summary>A draw in [0, <paramref name="bound"/>).</summary>
    public int Next(int bound)
    {
        _state += 0x9E3779B97F4A7C15UL;
        var z = _state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(((z >> 32) * (ulong)bound) >> 32);
    }
}
