using System.Diagnostics.Metrics;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>The scheduler's instruments, on one meter named <c>Exo.Gpu.Clustering</c> owned by the selector.</summary>
internal sealed class SchedulingMetrics : IDisposable
{
    public const string MeterName = "Exo.Gpu.Clustering";

    private readonly Meter _meter;

    public SchedulingMetrics()
    {
        _meter = new Meter(MeterName);
        Granted = _meter.CreateCounter<long>("exo.gpu.lease.granted", "{lease}", "Leases granted.");
        Released = _meter.CreateCounter<long>("exo.gpu.lease.released", "{lease}", "Leases released by their holders before any revocation.");
        Revoked = _meter.CreateCounter<long>("exo.gpu.lease.revoked", "{lease}", "Leases revoked because a device was lost or became unhealthy, or the cluster shut down.");
        Active = _meter.CreateUpDownCounter<long>("exo.gpu.lease.active", "{lease}", "Leases granted and not yet released.");
        QueueDepth = _meter.CreateUpDownCounter<long>("exo.gpu.lease.queue.depth", "{request}", "Requests waiting for a lease.");
        WaitDuration = _meter.CreateHistogram<double>("exo.gpu.lease.wait.duration", "s", "Time from an AcquireAsync call to its grant (0 when granted at once).");
    }

    public Counter<long> Granted { get; }

    public Counter<long> Released { get; }

    public Counter<long> Revoked { get; }

    public UpDownCounter<long> Active { get; }

    public UpDownCounter<long> QueueDepth { get; }

    public Histogram<double> WaitDuration { get; }

    /// <summary>Records a grant (checking <see cref="Instrument.Enabled"/> first: nothing to pay when nobody listens).</summary>
    /// <param name="waitSeconds">For <c>AcquireAsync</c>, the time waited; <see langword="null"/> for <c>TryAcquire</c>.</param>
    public void OnGranted(double? waitSeconds)
    {
        if (Granted.Enabled)
        {
            Granted.Add(1);
        }

        if (Active.Enabled)
        {
            Active.Add(1);
        }

        if (waitSeconds is double wait && WaitDuration.Enabled)
        {
            WaitDuration.Record(wait);
        }
    }

    /// <summary>Records a release; a revoked lease was counted when it was revoked.</summary>
    public void OnReleased(bool revoked)
    {
        if (!revoked && Released.Enabled)
        {
            Released.Add(1);
        }

        if (Active.Enabled)
        {
            Active.Add(-1);
        }
    }

    public void Dispose() => _meter.Dispose();
}
