using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>Reads one metric of a reading; a struct so each metric's extraction loop is compiled on its own.</summary>
internal interface IMetricReader
{
    static abstract bool TryRead(in GpuSample sample, out double value);
}

internal readonly struct UtilizationReader : IMetricReader
{
    public static bool TryRead(in GpuSample sample, out double value)
    {
        var v = sample.UtilizationPercent;
        value = v.GetValueOrDefault();
        return v.HasValue;
    }
}

internal readonly struct MemoryUsedReader : IMetricReader
{
    public static bool TryRead(in GpuSample sample, out double value)
    {
        var v = sample.MemoryUsedBytes;
        value = v.GetValueOrDefault();
        return v.HasValue;
    }
}

internal readonly struct TemperatureReader : IMetricReader
{
    public static bool TryRead(in GpuSample sample, out double value)
    {
        var v = sample.TemperatureC;
        value = v.GetValueOrDefault();
        return v.HasValue;
    }
}

internal readonly struct PowerReader : IMetricReader
{
    public static bool TryRead(in GpuSample sample, out double value)
    {
        var v = sample.PowerW;
        value = v.GetValueOrDefault();
        return v.HasValue;
    }
}
