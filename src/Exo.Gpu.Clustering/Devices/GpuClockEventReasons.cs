namespace Exo.Gpu.Clustering.Devices;

/// <summary>Why the clocks are below their maximum (NVML clock-event, formerly throttle, reasons).</summary>
[Flags]
#pragma warning disable CA1028 // The NVML mask is 64 bits wide.
public enum GpuClockEventReasons : ulong
#pragma warning restore CA1028
{
    /// <summary>Nothing is holding the clocks back.</summary>
    None = 0,

    /// <summary>The GPU is idle.</summary>
    GpuIdle = 0x1,

    /// <summary>Application clocks are set below the maximum.</summary>
    ApplicationsClocksSetting = 0x2,

    /// <summary>The software power cap is active.</summary>
    SwPowerCap = 0x4,

    /// <summary>Hardware slowdown (temperature, power brake or an external signal).</summary>
    HwSlowdown = 0x8,

    /// <summary>Sync boost with other GPUs.</summary>
    SyncBoost = 0x10,

    /// <summary>Software thermal slowdown.</summary>
    SwThermalSlowdown = 0x20,

    /// <summary>Hardware thermal slowdown.</summary>
    HwThermalSlowdown = 0x40,

    /// <summary>Hardware power brake slowdown.</summary>
    HwPowerBrakeSlowdown = 0x80,

    /// <summary>Display clock setting.</summary>
    DisplayClockSetting = 0x100,

    /// <summary>Every hardware-caused slowdown: <see cref="HwSlowdown"/>, <see cref="HwThermalSlowdown"/> and <see cref="HwPowerBrakeSlowdown"/>.</summary>
    HardwareSlowdownMask = HwSlowdown | HwThermalSlowdown | HwPowerBrakeSlowdown,
}
