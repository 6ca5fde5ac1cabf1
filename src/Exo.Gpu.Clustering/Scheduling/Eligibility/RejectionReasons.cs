using System.Globalization;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

// One reason per eligibility rule (see EligibilityRules): the values the message needs, its weight, and the message,
// built only by a sink that collects reasons. Constructing one costs a few register moves, and with NoReasons the
// JIT drops even those.

/// <summary>The request's exclude list names the device's index.</summary>
internal readonly struct ExcludedByIndex(int index) : IRejectionReason
{
    public int Weight => Rejections.Identity;

    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"excluded by index {index}");
}

/// <summary>The request's exclude list names the device's UUID.</summary>
internal readonly struct ExcludedByUuid : IRejectionReason
{
    public int Weight => Rejections.Identity;

    public string Describe() => "excluded by UUID";
}

/// <summary>The request has include lists and the device is in neither.</summary>
internal readonly struct NotIncluded : IRejectionReason
{
    public int Weight => Rejections.Identity;

    public string Describe() => "not in the include lists";
}

/// <summary>The device's name does not match the request's pattern.</summary>
internal readonly struct NameMismatch(string name, string? pattern) : IRejectionReason
{
    public int Weight => Rejections.Model;

    public string Describe() => $"name '{name}' does not match '{pattern}'";
}

/// <summary>The device's compute capability is unknown or outside the request's range.</summary>
internal readonly struct ComputeCapabilityOutOfRange(ComputeCapability? capability, ComputeCapability? min, ComputeCapability? max) : IRejectionReason
{
    public int Weight => Rejections.Model;

    public string Describe() => capability is { } cc
        ? min is { } lowest && cc < lowest ? $"compute capability {cc} < {lowest}" : $"compute capability {cc} > {max}"
        : "compute capability unknown";
}

/// <summary>The request is larger than the device's capacity: it never fits, whatever is released.</summary>
internal readonly struct LargerThanCapacity(long needed, long capacity, long total, long headroom) : IRejectionReason
{
    public int Weight => Rejections.TooSmall;

    public string Describe() =>
        $"needs {ByteSize.Format(needed)}, capacity {ByteSize.Format(capacity)} ({ByteSize.Format(total)} total − {ByteSize.Format(headroom)} headroom)";
}

/// <summary>The device is not Healthy (nor Degraded where the request allows it).</summary>
internal readonly struct NotHealthy(GpuHealth health) : IRejectionReason
{
    public int Weight => health == GpuHealth.Degraded ? Rejections.Mild : Rejections.Down;

    public string Describe() => health == GpuHealth.Degraded ? "health Degraded (the request allows only Healthy)" : $"health {health}";
}

/// <summary>The device has no fresh reading.</summary>
internal readonly struct NoFreshReading(TimeSpan age) : IRejectionReason
{
    public int Weight => Rejections.Down;

    public string Describe() => age == TimeSpan.MaxValue ? "no telemetry reading yet" : $"telemetry stale (last reading {Seconds.Format(age)} old)";
}

/// <summary>The device's reading is fresh, but older than the request allows.</summary>
internal readonly struct ReadingTooOld(TimeSpan age, TimeSpan max) : IRejectionReason
{
    public int Weight => Rejections.Mild;

    public string Describe() => $"telemetry {Seconds.Format(age)} old, the request allows {Seconds.Format(max)}";
}

/// <summary>The device is at or above the selector's hot limit.</summary>
internal readonly struct TooHot(double temperature, double hotLimit) : IRejectionReason
{
    public int Weight => Rejections.Load;

    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"temperature {temperature:0.#} °C >= hot limit {hotLimit:0.#} °C");
}

/// <summary>The device is above the request's temperature limit, or does not report its temperature (NaN).</summary>
internal readonly struct AboveMaxTemperature(double temperature, double max) : IRejectionReason
{
    public int Weight => Rejections.Load;

    public string Describe() => double.IsNaN(temperature)
        ? "temperature not reported (the request limits it)"
        : string.Create(CultureInfo.InvariantCulture, $"temperature {temperature:0.#} °C > max {max:0.#} °C");
}

/// <summary>The device is above the request's utilization limit, or does not report utilization (NaN).</summary>
internal readonly struct AboveMaxUtilization(double utilization, double max) : IRejectionReason
{
    public int Weight => Rejections.Load;

    public string Describe() => double.IsNaN(utilization)
        ? "utilization not reported (the request limits it)"
        : string.Create(CultureInfo.InvariantCulture, $"utilization {utilization:0.#} % > max {max:0.#} %");
}

/// <summary>Not enough free memory after reservations (observed free is -1 when the reading has none): a release fixes it.</summary>
internal readonly struct NoRoom(long needed, long available, long reserved, long capacity, long observedFree, long headroom) : IRejectionReason
{
    public int Weight => Rejections.Room;

    public string Describe()
    {
        var detail = $"{ByteSize.Format(reserved)} reserved of {ByteSize.Format(capacity)} capacity";
        if (observedFree >= 0)
        {
            detail += $", {ByteSize.Format(observedFree)} free observed";
            if (observedFree < headroom)
            {
                detail += $", below the {ByteSize.Format(headroom)} headroom";
            }
        }

        return $"needs {ByteSize.Format(needed)}, {ByteSize.Format(available)} free after reservations ({detail})";
    }
}

/// <summary>Every concurrency slot of the device is taken: a release fixes it.</summary>
internal readonly struct SlotsFull(int slots) : IRejectionReason
{
    public int Weight => Rejections.Room;

    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"all {slots} concurrency slots in use");
}

/// <summary>Formats ages for the reasons.</summary>
internal static class Seconds
{
    public static string Format(TimeSpan age) => age.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
}
