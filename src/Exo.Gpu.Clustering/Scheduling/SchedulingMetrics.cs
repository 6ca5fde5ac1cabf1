using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Diagnostics;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The scheduler's instruments, on the meter named <see cref="GpuInstruments.MeterName"/>: the collector's meter when
/// the selector is built on a collector (so an <see cref="IMeterFactory"/> given to the cluster scopes every
/// instrument), else one of its own, disposed with it.
/// </summary>
/// <remarks>
/// The counters and the wait histogram are recorded as things happen (checking <see cref="Instrument.Enabled"/>
/// first: nothing to pay when nobody listens); the per-device instruments (<see cref="GpuInstruments.LeaseActive"/>,
/// <see cref="GpuInstruments.LeaseReserved"/>) are observed from the ledger when a listener collects, without the
/// selector's lock (the ledger's per-device values are written with <see cref="Volatile"/>).
/// </remarks>
internal sealed class SchedulingMetrics : IDisposable
{
    private readonly Meter _meter;

    /// <summary>Whether <see cref="_meter"/> was created here (and is disposed here).</summary>
    private readonly bool _ownsMeter;

    /// <summary>The selector's current device table, or <see langword="null"/> once the selector is disposed.</summary>
    private readonly Func<SlotTable?> _table;

    /// <summary>The selector's lease accounting.</summary>
    private readonly LeaseLedger _ledger;

    /// <summary>The tags of <see cref="Abandoned"/> for a timeout.</summary>
    private static readonly KeyValuePair<string, object?> TimedOutTag = new(GpuInstruments.ErrorTypeAttribute, GpuInstruments.ErrorTypeTimeout);

    /// <summary>The tags of <see cref="Abandoned"/> for a cancellation.</summary>
    private static readonly KeyValuePair<string, object?> CancelledTag = new(GpuInstruments.ErrorTypeAttribute, GpuInstruments.ErrorTypeCancelled);

    /// <summary>Creates the instruments.</summary>
    /// <param name="meter">The meter to create them on (not disposed here); a new one, owned, when <see langword="null"/>.</param>
    /// <param name="table">The selector's current device table, or <see langword="null"/> once it is disposed.</param>
    /// <param name="ledger">The selector's lease accounting.</param>
    public SchedulingMetrics(Meter? meter, Func<SlotTable?> table, LeaseLedger ledger)
    {
        _table = table;
        _ledger = ledger;
        _ownsMeter = meter is null;
        _meter = meter ?? new Meter(GpuInstruments.MeterName);
        Granted = _meter.CreateCounter<long>(GpuInstruments.LeaseGranted, GpuInstruments.LeaseGrantedUnit, GpuInstruments.LeaseGrantedDescription);
        Released = _meter.CreateCounter<long>(GpuInstruments.LeaseReleased, GpuInstruments.LeaseReleasedUnit, GpuInstruments.LeaseReleasedDescription);
        Revoked = _meter.CreateCounter<long>(GpuInstruments.LeaseRevoked, GpuInstruments.LeaseRevokedUnit, GpuInstruments.LeaseRevokedDescription);
        Abandoned = _meter.CreateCounter<long>(GpuInstruments.LeaseAbandoned, GpuInstruments.LeaseAbandonedUnit, GpuInstruments.LeaseAbandonedDescription);
        QueueDepth = _meter.CreateUpDownCounter<long>(GpuInstruments.LeaseQueueDepth, GpuInstruments.LeaseQueueDepthUnit, GpuInstruments.LeaseQueueDepthDescription);
        WaitDuration = _meter.CreateHistogram(
            GpuInstruments.LeaseWaitDuration,
            GpuInstruments.LeaseWaitDurationUnit,
            GpuInstruments.LeaseWaitDurationDescription,
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GpuInstruments.LeaseWaitDurationBuckets });
        Active = _meter.CreateObservableUpDownCounter(GpuInstruments.LeaseActive, ObserveActive, GpuInstruments.LeaseActiveUnit, GpuInstruments.LeaseActiveDescription);
        Reserved = _meter.CreateObservableUpDownCounter(GpuInstruments.LeaseReserved, ObserveReserved, GpuInstruments.LeaseReservedUnit, GpuInstruments.LeaseReservedDescription);
    }

    public Counter<long> Granted { get; }

    public Counter<long> Released { get; }

    public Counter<long> Revoked { get; }

    /// <summary>Requests that stopped waiting: tagged <c>error.type</c> = <c>timeout</c> or <c>cancelled</c>.</summary>
    public Counter<long> Abandoned { get; }

    public UpDownCounter<long> QueueDepth { get; }

    public Histogram<double> WaitDuration { get; }

    /// <summary>Leases held per device (tagged <c>hw.id</c>).</summary>
    public ObservableUpDownCounter<long> Active { get; }

    /// <summary>Bytes reserved per device (tagged <c>hw.id</c>).</summary>
    public ObservableUpDownCounter<long> Reserved { get; }

    /// <summary>Records a grant.</summary>
    /// <param name="waitSeconds">For <c>AcquireAsync</c>, the time waited; <see langword="null"/> for <c>TryAcquire</c>.</param>
    public void OnGranted(double? waitSeconds)
    {
        if (Granted.Enabled)
        {
            Granted.Add(1);
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
    }

    /// <summary>Records a waiting request whose timeout ran out before a grant (the timeout path of <c>AcquireAsync</c> calls it).</summary>
    public void OnTimedOut()
    {
        if (Abandoned.Enabled)
        {
            Abandoned.Add(1, TimedOutTag);
        }
    }

    /// <summary>Records a waiting request whose caller's token fired before a grant.</summary>
    public void OnCancelled()
    {
        if (Abandoned.Enabled)
        {
            Abandoned.Add(1, CancelledTag);
        }
    }

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }

    private List<Measurement<long>> ObserveActive()
    {
        var result = new List<Measurement<long>>();
        if (_table() is { } table)
        {
            for (var slot = 0; slot < table.Count; slot++)
            {
                result.Add(new Measurement<long>(_ledger.LeaseCount(slot), DeviceTags.Of(table.Devices[slot]).Lease));
            }
        }

        return result;
    }

    private List<Measurement<long>> ObserveReserved()
    {
        var result = new List<Measurement<long>>();
        if (_table() is { } table)
        {
            for (var slot = 0; slot < table.Count; slot++)
            {
                result.Add(new Measurement<long>(_ledger.ReservedBytes(slot), DeviceTags.Of(table.Devices[slot]).Lease));
            }
        }

        return result;
    }
}
