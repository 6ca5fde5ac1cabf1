using Exo.Gpu.Clustering.Orleans.Directory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>
/// One GPU host inside its silo, over the host's own <see cref="GpuClusteringManager"/> (the only arbiter of its
/// devices; registered with <c>AddGpuClustering</c>, which starts it before the silo and drains it after): refuses to
/// start when another live silo holds the host id, publishes reports, reaps expired leases, revokes every lease when
/// the silo stops or sees itself declared dead, and revokes each lease whose TTL it stayed cut off from the membership
/// table for.
/// </summary>
internal sealed partial class GpuHostRuntime : ILifecycleParticipant<ISiloLifecycle>, IDisposable
{
    private readonly GpuHostOptions _options;
    private readonly ILocalSiloDetails _silo;
    private readonly IGrainFactory _grains;
    private readonly IClusterMembershipService _membership;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly GpuClusteringManager _manager;
    private HostLeaseTable? _table;
    private MembershipContact? _contact;
    private Task _loops = Task.CompletedTask;
    private long _reportSequence;

    public GpuHostRuntime(IOptions<GpuHostOptions> options, GpuClusteringManager manager, TimeProvider time, ILocalSiloDetails silo, IGrainFactory grains, IClusterMembershipService membership, ILoggerFactory loggers)
    {
        _options = options.Value;
        _manager = manager;
        _time = time;
        _silo = silo;
        _grains = grains;
        _membership = membership;
        _logger = loggers.CreateLogger<GpuHostRuntime>();
    }

    /// <summary>The host id: the silo's name.</summary>
    public string HostId => _silo.Name;

    /// <summary>The host and its generation (the silo's).</summary>
    public GpuHostIdentity Identity => new(_silo.Name, _silo.SiloAddress.Generation);

    /// <summary>The host's manager.</summary>
    public GpuClusteringManager Manager => _manager;

    /// <summary>The host's cluster leases, once started.</summary>
    public HostLeaseTable Table => _table ?? throw new InvalidOperationException($"GPU host '{HostId}' has not started.");

    /// <summary>How long a report stays valid: three report intervals.</summary>
    private TimeSpan ReportValidity => _options.ReportInterval * 3;

    public void Participate(ISiloLifecycle lifecycle)
    {
        lifecycle.Subscribe("Exo.Gpu.Host.Leases", ServiceLifecycleStage.ApplicationServices, StartLeasesAsync, StopLeasesAsync);
        lifecycle.Subscribe("Exo.Gpu.Host", ServiceLifecycleStage.Active, StartHostAsync, StopHostAsync);
    }

    /// <summary>Frees the stop signal (the container disposes the runtime after the silo stopped).</summary>
    public void Dispose() => _stop.Dispose();

    /// <summary>The host's report now.</summary>
    public GpuHostReport BuildReport()
    {
        var manager = Manager;
        var leases = manager.GetLeaseSnapshot();
        var health = manager.GetStatuses().ToDictionary(s => s.Device.Uuid, s => s.Health, StringComparer.Ordinal);
        var devices = new GpuHostDeviceReport[leases.Devices.Count];
        for (var i = 0; i < devices.Length; i++)
        {
            var d = leases.Devices[i];
            devices[i] = new GpuHostDeviceReport
            {
                Uuid = d.Device.Uuid,
                Index = d.Device.Index,
                Name = d.Device.Name,
                Health = health.GetValueOrDefault(d.Device.Uuid),
                TotalMemoryBytes = d.Device.TotalMemoryBytes,
                CapacityBytes = d.CapacityBytes,
                FreeBytes = Math.Max(0, d.CapacityBytes - d.ReservedBytes),
                ActiveLeases = d.ActiveLeases,
                Waiters = d.Waiters,
            };
        }

        var (granted, released, revoked, expired, live) = Table.Counters();
        return new GpuHostReport
        {
            Host = Identity,
            Sequence = Interlocked.Increment(ref _reportSequence),
            Silo = _silo.SiloAddress.ToParsableString(),
            Devices = devices,
            ActiveLeases = live,
            Waiters = leases.Waiters,
            Granted = granted,
            Released = released,
            Revoked = revoked,
            Expired = expired,
            ValidFor = ReportValidity,
        };
    }

    private Task StartLeasesAsync(CancellationToken cancellationToken)
    {
        var errors = _options.Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(nameof(GpuHostOptions), typeof(GpuHostOptions), errors);
        }

        if (!_manager.IsRunning)
        {
            throw new InvalidOperationException($"GPU host '{HostId}': its GpuClusteringManager is not running (AddGpuClustering starts it before the silo).");
        }

        _table = new HostLeaseTable(Identity, _manager.TryAcquire, _time, _options.MaxLeaseTtl, _options.EndedRetention);
        _table.Ended += (id, how) => LogLeaseEnded(id, how);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Revokes every lease whose TTL this host has now been cut off from the membership table for longer than
    /// (checked by the reap loop and before every call that grants or renews); returns how many.
    /// </summary>
    public int RevokeIfCutOff()
    {
        if (_contact is not { } contact || _table is not { } table || contact.CutOff is not { Ticks: > 0 } cut)
        {
            return 0;
        }

        var revoked = table.RevokeIsolated(cut);
        if (revoked > 0)
        {
            LogRevokedAll(revoked, $"cut off from the membership table for {cut.TotalSeconds:F1} s, longer than their TTL");
        }

        return revoked;
    }

    private async Task StartHostAsync(CancellationToken cancellationToken)
    {
        var self = _silo.SiloAddress;
        foreach (var member in _membership.CurrentSnapshot.Members.Values)
        {
            if (!member.SiloAddress.Equals(self)
                && string.Equals(member.Name, HostId, StringComparison.Ordinal)
                && member.Status is SiloStatus.Active or SiloStatus.Joining)
            {
                throw new InvalidOperationException($"GPU host id '{HostId}' is already claimed by silo {member.SiloAddress} ({member.Status}); two silos may not claim one host id.");
            }
        }

        var directory = _grains.GetGrain<IGpuDirectoryGrain>(0);
        if (await directory.ClaimAsync(Identity, self.ToParsableString()).WaitAsync(cancellationToken).ConfigureAwait(false) is { } refusal)
        {
            throw new InvalidOperationException(refusal);
        }

        await directory.ReportAsync(BuildReport()).WaitAsync(cancellationToken).ConfigureAwait(false);
        _contact = new MembershipContact(_time, ct => _membership.Refresh(default, ct).AsTask(), _options.MembershipProbeInterval);
        _loops = Task.WhenAll(
            Task.Run(() => ReportLoopAsync(directory, _stop.Token), CancellationToken.None),
            Task.Run(() => ReapLoopAsync(_stop.Token), CancellationToken.None),
            Task.Run(() => ProbeLoopAsync(_stop.Token), CancellationToken.None),
            Task.Run(() => WatchMembershipAsync(_stop.Token), CancellationToken.None));
        LogStarted(Identity, Manager.Devices.Count);
    }

    private async Task StopHostAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_table is { } table)
        {
            var revoked = table.RevokeAll($"GPU host '{HostId}' is stopping");
            LogRevokedAll(revoked, "the silo is stopping");
        }

        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(TimeSpan.FromSeconds(1));
            await _grains.GetGrain<IGpuDirectoryGrain>(0).RemoveAsync(Identity).WaitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogCallFailed("remove from the directory", e);
        }

        await _loops.WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Last line: nothing is granted once the silo's application services stop (the manager drains after the silo).</summary>
    private Task StopLeasesAsync(CancellationToken cancellationToken)
    {
        _table?.RevokeAll($"GPU host '{HostId}' is stopping");
        return Task.CompletedTask;
    }

    private async Task ReportLoopAsync(IGpuDirectoryGrain directory, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.ReportInterval, _time);
        while (await WaitAsync(timer, stop).ConfigureAwait(false))
        {
            try
            {
                await directory.ReportAsync(BuildReport()).WaitAsync(ReportValidity, stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
            {
                LogCallFailed("report to the directory", e);
            }
        }
    }

    private async Task ReapLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_options.ReapInterval, _time);
        while (await WaitAsync(timer, stop).ConfigureAwait(false))
        {
            RevokeIfCutOff();
            Table.ExpireDue();
        }
    }

    /// <summary>Reads the membership table on an interval, so a host cut off from it knows for how long.</summary>
    private async Task ProbeLoopAsync(CancellationToken stop)
    {
        var contact = _contact!;
        using var timer = new PeriodicTimer(_options.MembershipProbeInterval, _time);
        var reachable = true;
        while (await WaitAsync(timer, stop).ConfigureAwait(false))
        {
            RevokeIfCutOff(); // first: a process that just woke must not renew on an old success
            var ok = await contact.ProbeAsync(stop).ConfigureAwait(false);
            if (ok != reachable)
            {
                reachable = ok;
                LogMembershipContact(ok);
            }
        }
    }

    /// <summary>Revokes every lease the moment this silo sees itself declared dead (Orleans then fails the process fast).</summary>
    private async Task WatchMembershipAsync(CancellationToken stop)
    {
        try
        {
            await foreach (var snapshot in _membership.MembershipUpdates.WithCancellation(stop).ConfigureAwait(false))
            {
                if (snapshot.GetSiloStatus(_silo.SiloAddress) == SiloStatus.Dead)
                {
                    LogRevokedAll(Table.RevokeAll($"GPU host '{HostId}' was declared dead"), "membership declared this silo dead");
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stop)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stop).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(1400, LogLevel.Information, "GPU host {Host} started with {Devices} device(s)")]
    private partial void LogStarted(GpuHostIdentity host, int devices);

    [LoggerMessage(1401, LogLevel.Warning, "GPU host revoked {Count} lease(s): {Reason}")]
    private partial void LogRevokedAll(int count, string reason);

    [LoggerMessage(1402, LogLevel.Debug, "Cluster lease {RequestId} ended: {How}")]
    private partial void LogLeaseEnded(string requestId, HostLeaseStatus how);

    [LoggerMessage(1404, LogLevel.Warning, "GPU host can reach the membership table: {Reachable}")]
    private partial void LogMembershipContact(bool reachable);

    [LoggerMessage(1403, LogLevel.Warning, "GPU host could not {What}")]
    private partial void LogCallFailed(string what, Exception exception);
}
