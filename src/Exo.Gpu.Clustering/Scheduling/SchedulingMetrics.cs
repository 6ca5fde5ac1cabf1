using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Diagnostics;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>The scheduler's instruments, on one meter named <see cref="GpuInstruments.MeterName"/> owned by the selector.</summary>
internal sealed class SchedulingMetrics : IDisposable
{
    private readonly Meter _meter;

    public SchedulingMetrics()
    {
        _meter = new Meter(GpuInstruments.MeterName);
        Granted = _meter.CreateCounter<long>(GpuInstruments.LeaseGranted, GpuInstruments.LeaseGrantedUnit, GpuInstruments.LeaseGrantedDescription);
        Released = _meter.CreateCounter<long>(GpuInstruments.LeaseReleased, GpuInstruments.LeaseReleasedUnit, GpuInstruments.LeaseReleasedDescription);
        Revoked = _meter.CreateCounter<long>(GpuInstruments.LeaseRevoked, GpuInstruments.LeaseRevokedUnit, GpuInstruments.LeaseRevokedDescription);
        Active = _meter.CreateUpDownCounter<long>(GpuInstruments.LeaseActive, GpuInstruments.LeaseActiveUnit, GpuInstruments.LeaseActiveDescription);
        QueueDepth = _meter.CreateUpDownCounter<long>(GpuInstruments.LeaseQueueDepth, GpuInstruments.LeaseQueueDepthUnit, GpuInstruments.LeaseQueueDepthDescription);
        WaitDuration = _meter.CreateHistogram<double>(GpuInstruments.LeaseWaitDuration, GpuInstruments.LeaseWaitDurationUnit, GpuInstruments.LeaseWaitDurationDescription);
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
