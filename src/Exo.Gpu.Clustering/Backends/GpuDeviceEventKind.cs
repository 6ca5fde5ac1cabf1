namespace Exo.Gpu.Clustering.Backends;

/// <summary>What a <see cref="GpuDeviceEvent"/> reports.</summary>
public enum GpuDeviceEventKind
{
    /// <summary>A critical Xid error (the application-error Xids 13, 31, 43, 45, 68 and 109 are not reported).</summary>
    CriticalXid = 0,

    /// <summary>An uncorrectable (double-bit) ECC error.</summary>
    DoubleBitEccError = 1,

    /// <summary>A corrected (single-bit) ECC error.</summary>
    SingleBitEccError = 2,

    /// <summary>The device was lost (fell off the bus).</summary>
    Lost = 3,
}
