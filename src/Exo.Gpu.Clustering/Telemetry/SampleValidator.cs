using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// The checks <see cref="TelemetryCollector.Record"/> applies to a reading before it touches any state. Values that
/// are absent (<see langword="null"/>) are not checked.
/// </summary>
internal static class SampleValidator
{
    private const string ParamName = "sample";

    /// <summary>Checks every value of a reading that does not depend on the device's history.</summary>
    /// <param name="sample">The reading.</param>
    /// <param name="deviceTotalMemoryBytes">The device's total memory, used when the reading carries no total.</param>
    /// <exception cref="GpuSampleValidationException">A value is invalid; the exception names it.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Validate(in GpuSample sample, long deviceTotalMemoryBytes)
    {
        if (sample.TimestampUtcTicks == 0)
        {
            Throw(nameof(GpuSample.Timestamp), sample.Timestamp, "must be set.");
        }

        Percent(sample.UtilizationPercent, nameof(GpuSample.UtilizationPercent));
        Percent(sample.MemoryUtilizationPercent, nameof(GpuSample.MemoryUtilizationPercent));
        NonNegative(sample.TemperatureC, nameof(GpuSample.TemperatureC));
        NonNegative(sample.PowerW, nameof(GpuSample.PowerW));
        NonNegative(sample.PowerLimitW, nameof(GpuSample.PowerLimitW));
        NonNegative(sample.EccCorrectedErrors, nameof(GpuSample.EccCorrectedErrors));
        NonNegative(sample.EccUncorrectedErrors, nameof(GpuSample.EccUncorrectedErrors));
        if (sample.SmClockMHz is int clock && clock < 0)
        {
            Throw(nameof(GpuSample.SmClockMHz), clock, "must not be negative.");
        }

        var total = deviceTotalMemoryBytes;
        if (sample.MemoryTotalBytes is long t)
        {
            if (t <= 0)
            {
                Throw(nameof(GpuSample.MemoryTotalBytes), t, "must be more than 0.");
            }

            total = t;
        }

        if (sample.MemoryUsedBytes is long used)
        {
            if (used < 0)
            {
                Throw(nameof(GpuSample.MemoryUsedBytes), used, "must not be negative.");
            }

            if (used > total)
            {
                ThrowUsedOverTotal(used, total);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Percent(double? value, string field)
    {
        if (value is double v && !(v >= 0 && v <= 100))
        {
            Throw(field, v, double.IsNaN(v) || double.IsInfinity(v) ? "must be a finite number." : "must be from 0 to 100.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NonNegative(double? value, string field)
    {
        // !(v >= 0) catches NaN too; the upper bound catches +infinity.
        if (value is double v && !(v >= 0 && v <= double.MaxValue))
        {
            Throw(field, v, v < 0 ? "must not be negative." : "must be a finite number.");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NonNegative(long? value, string field)
    {
        if (value is long v && v < 0)
        {
            Throw(field, v, "must not be negative.");
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowUsedOverTotal(long used, long total) =>
        Throw(
            nameof(GpuSample.MemoryUsedBytes),
            used,
            string.Create(CultureInfo.InvariantCulture, $"({used} bytes) is more than the total memory ({total} bytes)."));

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(string field, object value, string rule) =>
#pragma warning disable CA2208 // The reading is the Record caller's parameter "sample"; the field is named in the exception.
        throw new GpuSampleValidationException(
            ParamName,
            field,
            value,
            string.Create(CultureInfo.InvariantCulture, $"GpuSample.{field} {rule} Got {Format(value)}."));
#pragma warning restore CA2208

    private static string Format(object value) => value switch
    {
        DateTimeOffset d => d.ToString("O", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}
