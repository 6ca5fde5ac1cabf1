namespace Exo.Gpu.Clustering.Orleans;

/// <summary>How the devices of a multi-device cluster request are spread over hosts.</summary>
public enum GangPlacement
{
    /// <summary>The default: as few hosts as possible (one when one host fits the whole request, the fullest that still fits first).</summary>
    Pack = 0,

    /// <summary>Across as many hosts as possible, one device per host in turn.</summary>
    Spread = 1,

    /// <summary>Every device on one host, or nothing.</summary>
    StrictPack = 2,

    /// <summary>Every device on a distinct host, or nothing.</summary>
    StrictSpread = 3,
}
