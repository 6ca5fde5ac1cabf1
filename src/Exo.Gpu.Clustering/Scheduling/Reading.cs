using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// What selection reads of one device's state, as plain values (NaN or -1 for a reading the device does not report,
/// and for every reading when there is no fresh sample). Built once per device per selection: the JIT keeps these in
/// registers, where passing <see cref="DeviceState"/> or <see cref="GpuSample"/> around would copy them to the stack
/// at every use of <see cref="DeviceState.Sample"/>.
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal readonly struct Reading
{
    /// <summary>The judged health.</summary>
    public readonly GpuHealth Health;

    /// <summary>Whether the latest reading is fresh (younger than the staleness limit).</summary>
    public readonly bool Fresh;

    /// <summary>The sample's age; <see cref="TimeSpan.Zero"/> for a fresh sample when it was not asked for.</summary>
    public readonly TimeSpan Age;

    /// <summary>Utilization in percent; NaN when not reported.</summary>
    public readonly double Utilization;

    /// <summary>Temperature in °C; NaN when not reported.</summary>
    public readonly double Temperature;

    /// <summary>Power draw in W; NaN when not reported.</summary>
    public readonly double Power;

    /// <summary>Power limit in W; NaN when not reported.</summary>
    public readonly double PowerLimit;

    /// <summary>Free memory in bytes; -1 when not reported.</summary>
    public readonly long MemoryFree;

    /// <summary>Reads a state.</summary>
    /// <param name="state">The state.</param>
    /// <param name="needAge">Whether the age of a fresh sample matters (the request limits it); a stale sample's age is always read.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Reading(DeviceState state, bool needAge)
    {
        // By value and field by field, and the age only when needed: otherwise the JIT copies the whole state to the
        // stack and reads fields back from the copy (a store-forwarding stall per device).
        Health = state.Health;
        Fresh = state.HasFreshSample;
        Age = needAge || !Fresh ? state.SampleAge : TimeSpan.Zero;
        if (Fresh)
        {
            Utilization = state.Sample.UtilizationPercent ?? double.NaN;
            Temperature = state.Sample.TemperatureC ?? double.NaN;
            Power = state.Sample.PowerW ?? double.NaN;
            PowerLimit = state.Sample.PowerLimitW ?? double.NaN;
            MemoryFree = state.Sample.MemoryFreeBytes ?? -1;
        }
        else
        {
            Utilization = Temperature = Power = PowerLimit = double.NaN;
            MemoryFree = -1;
        }
    }

    public bool HasUtilization => !double.IsNaN(Utilization);

    public bool HasTemperature => !double.IsNaN(Temperature);

    /// <summary>Whether both power and a positive power limit are reported.</summary>
    public bool HasPowerHeadroom => !double.IsNaN(Power) && PowerLimit > 0;

    public bool HasMemoryFree => MemoryFree >= 0;
}
