using System.Diagnostics.Metrics;

namespace Exo.Gpu.Clustering.Tests.Diagnostics;

/// <summary>
/// An <see cref="IMeterFactory"/> that behaves as the container's (<c>AddMetrics()</c>): it is the scope of every meter
/// it creates, hands out one meter per name and version, and disposes its meters with itself. A
/// <see cref="Microsoft.Extensions.Diagnostics.Metrics.Testing.MetricCollector{T}"/> given this factory sees only
/// instruments on its meters.
/// </summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public int Created
    {
        get
        {
            lock (_meters)
            {
                return _meters.Count;
            }
        }
    }

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        lock (_meters)
        {
            var meter = _meters.FirstOrDefault(m => m.Name == options.Name && m.Version == options.Version);
            if (meter is null)
            {
                meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
                _meters.Add(meter);
            }

            return meter;
        }
    }

    public void Dispose()
    {
        lock (_meters)
        {
            foreach (var meter in _meters)
            {
                meter.Dispose();
            }

            _meters.Clear();
        }
    }
}
