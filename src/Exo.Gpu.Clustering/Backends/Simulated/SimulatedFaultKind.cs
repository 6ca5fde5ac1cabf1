namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>What a simulated fault does to its device while it is active.</summary>
public enum SimulatedFaultKind
{
    /// <summary>The device is lost: sampling throws <see cref="GpuDeviceLostException"/> and discovery omits it. A lost event is raised.</summary>
    Lost = 0,

    /// <summary>Sampling throws <see cref="GpuSamplingException"/>.</summary>
    Throw = 1,

    /// <summary>Sampling does not return until the fault ends or the caller's token fires.</summary>
    Hang = 2,

    /// <summary>The device runs hot: about 45 °C above normal, with hardware thermal slowdown reported.</summary>
    Hot = 3,

    /// <summary>The device reports uncorrectable ECC errors. A double-bit ECC event is raised.</summary>
    EccUncorrectable = 4,

    /// <summary>A critical Xid event (<see cref="SimulatedFault.Code"/>, 79 unless given) is raised; readings are unaffected.</summary>
    Xid = 5,
}
