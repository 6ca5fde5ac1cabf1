using System.Runtime.InteropServices;

namespace Exo.Gpu.Clustering.Devices;

/// <summary>
/// One telemetry reading of one device. Every reading except <see cref="Timestamp"/> is optional: a value the backend
/// could not read is <see langword="null"/> ("not available"), never a zero by accident.
/// </summary>
/// <remarks>
/// Build one with an object initializer: <c>new GpuSample { Timestamp = now, TemperatureC = 61 }</c>. The struct keeps
/// the values unboxed with a mask of which are present, so it is small and copying it never allocates.
/// Values are not validated here; <c>TelemetryCollector.Record</c> validates them.
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public readonly struct GpuSample : IEquatable<GpuSample>
{
    private readonly long _timestampTicks;
    private readonly long _memoryUsed;
    private readonly long _memoryTotal;
    private readonly long _eccCorrected;
    private readonly long _eccUncorrected;
    private readonly ulong _clockEventReasons;
    private readonly double _utilization;
    private readonly double _memoryUtilization;
    private readonly double _temperature;
    private readonly double _power;
    private readonly double _powerLimit;
    private readonly int _smClock;
    private readonly Fields _present;

    [Flags]
    private enum Fields
    {
        None = 0,
        MemoryUsed = 1 << 0,
        MemoryTotal = 1 << 1,
        Utilization = 1 << 2,
        MemoryUtilization = 1 << 3,
        Temperature = 1 << 4,
        Power = 1 << 5,
        PowerLimit = 1 << 6,
        SmClock = 1 << 7,
        ClockEventReasons = 1 << 8,
        EccCorrected = 1 << 9,
        EccUncorrected = 1 << 10,
    }

    /// <summary>When the reading was taken (UTC).</summary>
    public DateTimeOffset Timestamp
    {
        get => new(_timestampTicks, TimeSpan.Zero);
        init => _timestampTicks = value.UtcTicks;
    }

    /// <summary>The timestamp as UTC ticks; cheap to compare.</summary>
    public long TimestampUtcTicks => _timestampTicks;

    /// <summary>Device memory in use, in bytes.</summary>
    public long? MemoryUsedBytes
    {
        get => Has(Fields.MemoryUsed) ? _memoryUsed : null;
        init
        {
            _memoryUsed = value.GetValueOrDefault();
            _present = With(_present, Fields.MemoryUsed, value.HasValue);
        }
    }

    /// <summary>Device memory in total, in bytes.</summary>
    public long? MemoryTotalBytes
    {
        get => Has(Fields.MemoryTotal) ? _memoryTotal : null;
        init
        {
            _memoryTotal = value.GetValueOrDefault();
            _present = With(_present, Fields.MemoryTotal, value.HasValue);
        }
    }

    /// <summary>Free device memory in bytes (<see cref="MemoryTotalBytes"/> − <see cref="MemoryUsedBytes"/>), when both are known.</summary>
    public long? MemoryFreeBytes => Has(Fields.MemoryUsed | Fields.MemoryTotal) ? _memoryTotal - _memoryUsed : null;

    /// <summary>Percent of the sample period during which a kernel ran (0–100).</summary>
    public double? UtilizationPercent
    {
        get => Has(Fields.Utilization) ? _utilization : null;
        init
        {
            _utilization = value.GetValueOrDefault();
            _present = With(_present, Fields.Utilization, value.HasValue);
        }
    }

    /// <summary>Percent of the sample period during which device memory was read or written (0–100).</summary>
    public double? MemoryUtilizationPercent
    {
        get => Has(Fields.MemoryUtilization) ? _memoryUtilization : null;
        init
        {
            _memoryUtilization = value.GetValueOrDefault();
            _present = With(_present, Fields.MemoryUtilization, value.HasValue);
        }
    }

    /// <summary>GPU core temperature in degrees Celsius.</summary>
    public double? TemperatureC
    {
        get => Has(Fields.Temperature) ? _temperature : null;
        init
        {
            _temperature = value.GetValueOrDefault();
            _present = With(_present, Fields.Temperature, value.HasValue);
        }
    }

    /// <summary>Power draw in watts.</summary>
    public double? PowerW
    {
        get => Has(Fields.Power) ? _power : null;
        init
        {
            _power = value.GetValueOrDefault();
            _present = With(_present, Fields.Power, value.HasValue);
        }
    }

    /// <summary>The enforced power limit in watts.</summary>
    public double? PowerLimitW
    {
        get => Has(Fields.PowerLimit) ? _powerLimit : null;
        init
        {
            _powerLimit = value.GetValueOrDefault();
            _present = With(_present, Fields.PowerLimit, value.HasValue);
        }
    }

    /// <summary>The current SM clock in MHz.</summary>
    public int? SmClockMHz
    {
        get => Has(Fields.SmClock) ? _smClock : null;
        init
        {
            _smClock = value.GetValueOrDefault();
            _present = With(_present, Fields.SmClock, value.HasValue);
        }
    }

    /// <summary>Why the clocks are held back (clock-event or throttle reasons).</summary>
    public GpuClockEventReasons? ClockEventReasons
    {
        get => Has(Fields.ClockEventReasons) ? (GpuClockEventReasons)_clockEventReasons : null;
        init
        {
            _clockEventReasons = (ulong)value.GetValueOrDefault();
            _present = With(_present, Fields.ClockEventReasons, value.HasValue);
        }
    }

    /// <summary>Corrected (single-bit) ECC errors since the driver loaded (volatile counter).</summary>
    public long? EccCorrectedErrors
    {
        get => Has(Fields.EccCorrected) ? _eccCorrected : null;
        init
        {
            _eccCorrected = value.GetValueOrDefault();
            _present = With(_present, Fields.EccCorrected, value.HasValue);
        }
    }

    /// <summary>Uncorrected (double-bit) ECC errors since the driver loaded (volatile counter).</summary>
    public long? EccUncorrectedErrors
    {
        get => Has(Fields.EccUncorrected) ? _eccUncorrected : null;
        init
        {
            _eccUncorrected = value.GetValueOrDefault();
            _present = With(_present, Fields.EccUncorrected, value.HasValue);
        }
    }

    /// <summary>Compares every reading, bit for bit.</summary>
    public bool Equals(GpuSample other) =>
        _present == other._present
        && _timestampTicks == other._timestampTicks
        && _memoryUsed == other._memoryUsed
        && _memoryTotal == other._memoryTotal
        && _eccCorrected == other._eccCorrected
        && _eccUncorrected == other._eccUncorrected
        && _clockEventReasons == other._clockEventReasons
        && _utilization.Equals(other._utilization)
        && _memoryUtilization.Equals(other._memoryUtilization)
        && _temperature.Equals(other._temperature)
        && _power.Equals(other._power)
        && _powerLimit.Equals(other._powerLimit)
        && _smClock == other._smClock;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is GpuSample other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() =>
        HashCode.Combine(_timestampTicks, _memoryUsed, _utilization, _temperature, _power, _present);

    /// <summary>Compares every reading, bit for bit.</summary>
    public static bool operator ==(GpuSample left, GpuSample right) => left.Equals(right);

    /// <summary>Whether any reading differs.</summary>
    public static bool operator !=(GpuSample left, GpuSample right) => !left.Equals(right);

    private bool Has(Fields fields) => (_present & fields) == fields;

    private static Fields With(Fields present, Fields flag, bool on) => on ? present | flag : present & ~flag;
}
