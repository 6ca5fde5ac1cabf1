using Exo.Gpu.Clustering.Orleans.Directory;
using Exo.Gpu.Clustering.Orleans.Hosts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exo.Gpu.Clustering.Orleans.Pool;

/// <summary>
/// The cluster pool: plans on the directory's view, reserves on hosts (two phases for a gang across hosts: prepare
/// with a short TTL everywhere, then commit, or abort all), renews held leases on an interval, and fires a lease's
/// token when a host says it ended, when membership shows its host gone, when its holder deadline passes, or at
/// shutdown. Request ids are deduplicated here (a retry, even a concurrent one, gets the same lease) and on each host.
/// A revoked gang's surviving parts are released, or, for an elastic lease, renewed until it is re-acquired (only the
/// lost devices are acquired anew, under the request id and the round) or released.
/// </summary>
internal sealed partial class ClusterGpuPool : IClusterGpuPool
{
    private readonly IGrainFactory _grains;
    private readonly ClusterGpuPoolOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();

    /// <summary>Acquires under way or done, by request id (guarded by <see cref="_gate"/>).</summary>
    private readonly Dictionary<string, Task<ClusterLease>> _requests = new(StringComparer.Ordinal);

    /// <summary>Request ids released here, oldest first (bounded), so a late retry is refused.</summary>
    private readonly HashSet<string> _ended = new(StringComparer.Ordinal);

    private readonly Queue<string> _endedOrder = new();

    private readonly CancellationTokenSource _stop = new();

    /// <summary>The last view fetched and when (monotonic), for the first round of acquires (<see cref="ClusterGpuPoolOptions.ViewMaxAge"/>).</summary>
    private (ClusterGpuView View, long FetchedAt)? _lastView;

    private Task _monitor = Task.CompletedTask;
    private bool _monitoring;
    private int _disposed;

    /// <summary>How many ended request ids the pool remembers.</summary>
    private const int EndedRetention = 65536;

    public ClusterGpuPool(IGrainFactory grains, ClusterGpuPoolOptions options, TimeProvider? time = null, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid cluster pool options: " + string.Join("; ", errors), nameof(options));
        }

        _grains = grains;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = (loggers ?? NullLoggerFactory.Instance).CreateLogger<ClusterGpuPool>();
    }

    private IGpuDirectoryGrain Directory => _grains.GetGrain<IGpuDirectoryGrain>(0);

    /// <summary>Runs after every part of a gang is prepared and before any is committed (tests kill a host here).</summary>
    internal Func<CancellationToken, Task>? BetweenPhases { get; set; }

    public async Task<ClusterLease> AcquireAsync(ClusterGpuRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.RequestId, nameof(request.RequestId));
#pragma warning disable CA2208 // as in the core, the parameter name is the request's property
        if (request.RequestId.Length > ClusterGpuRequest.MaxRequestIdLength)
        {
            throw new ArgumentException($"RequestId must be at most {ClusterGpuRequest.MaxRequestIdLength} characters, got {request.RequestId.Length}.", nameof(request.RequestId));
        }

        if (request.RequestId.Contains(ClusterGpuRequest.RoundSeparator, StringComparison.Ordinal))
        {
            throw new ArgumentException("RequestId may not contain U+001F (it marks the replacement parts of an elastic lease).", nameof(request.RequestId));
        }
#pragma warning restore CA2208

        ArgumentOutOfRangeException.ThrowIfNegative(request.MemoryBytes, nameof(request.MemoryBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(request.DeviceCount, 1, nameof(request.DeviceCount));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(request.DeviceCount, 1024, nameof(request.DeviceCount));
        if (!Enum.IsDefined(request.Placement))
        {
#pragma warning disable CA2208 // as in the core, the parameter name is the request's property
            throw new ArgumentException($"Placement {(int)request.Placement} is not defined.", nameof(request.Placement));
#pragma warning restore CA2208
        }

        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Task<ClusterLease> task;
        lock (_gate)
        {
            if (_ended.Contains(request.RequestId))
            {
                throw new InvalidOperationException($"Request '{request.RequestId}' was already released; a request id is final.");
            }

            if (!_requests.TryGetValue(request.RequestId, out var existing) || existing.IsFaulted || existing.IsCanceled)
            {
                existing = AcquireCoreAsync(request, cancellationToken);
                _requests[request.RequestId] = existing;
            }

            task = existing;
            if (!_monitoring)
            {
                _monitoring = true;
                _monitor = Task.Run(() => MonitorAsync(_stop.Token), CancellationToken.None);
            }
        }

        try
        {
            return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch when (task.IsFaulted || task.IsCanceled)
        {
            // A failed acquire holds nothing: forget it (a retry starts afresh; long runs do not pile up failures).
            lock (_gate)
            {
                if (_requests.TryGetValue(request.RequestId, out var current) && ReferenceEquals(current, task))
                {
                    _requests.Remove(request.RequestId);
                }
            }

            throw;
        }
    }

    /// <summary>How many request ids the pool tracks now (held or under way).</summary>
    internal int TrackedRequests
    {
        get
        {
            lock (_gate)
            {
                return _requests.Count;
            }
        }
    }

    public Task<ClusterLease> ReacquireAsync(ClusterLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Task<ClusterLease> task;
        lock (_gate)
        {
            if (lease.Reacquiring is { IsFaulted: false, IsCanceled: false } running)
            {
                task = running; // a retry, or the caller asking again once done: the same lease
            }
            else
            {
                if (!_requests.TryGetValue(lease.RequestId, out var current) || !current.IsCompletedSuccessfully || !ReferenceEquals(current.Result, lease))
                {
                    throw new InvalidOperationException($"Lease '{lease.RequestId}' is not held by this pool (released, or re-acquired: use the lease that returned).");
                }

                if (lease.IsLive)
                {
                    return Task.FromResult(lease); // nothing lost
                }

                if (!lease.Request.Elastic)
                {
                    throw new InvalidOperationException($"Lease '{lease.RequestId}' is not elastic: its surviving parts were released when it was revoked; acquire anew.");
                }

                task = lease.Reacquiring = ReacquireCoreAsync(lease, cancellationToken);
            }
        }

        return task.WaitAsync(cancellationToken);
    }

    public async Task<ClusterReleaseResult> ReleaseAsync(string requestId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        Task<ClusterLease>? task;
        lock (_gate)
        {
            if (!_requests.TryGetValue(requestId, out task) && _ended.Contains(requestId))
            {
                return ClusterReleaseResult.AlreadyReleased;
            }
        }

        if (task is { IsCompletedSuccessfully: true })
        {
            return await task.Result.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        }

        // Not held here: release wherever a live host holds it.
        var view = await FetchViewAsync(cancellationToken).ConfigureAwait(false);
        var results = await Task.WhenAll(view.Hosts.Select(h => ReleaseOnHostAsync(h.Host.HostId, requestId, cancellationToken))).ConfigureAwait(false);
        return Combine(results);
    }

    public Task<ClusterGpuView> GetViewAsync(CancellationToken cancellationToken = default) => FetchViewAsync(cancellationToken);

    /// <summary>Asks the directory for its view now and keeps it for the acquires that follow.</summary>
    private async Task<ClusterGpuView> FetchViewAsync(CancellationToken cancellationToken)
    {
        var fetchedAt = _time.GetTimestamp();
        var view = await Directory.GetViewAsync().WaitAsync(_options.CallTimeout, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_lastView is not { } last || last.FetchedAt < fetchedAt)
            {
                _lastView = (view, fetchedAt);
            }
        }

        return view;
    }

    /// <summary>The kept view when it is younger than <see cref="ClusterGpuPoolOptions.ViewMaxAge"/>, else a fetched one.</summary>
    private ValueTask<ClusterGpuView> PlanningViewAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_lastView is { } last && _time.GetElapsedTime(last.FetchedAt) < _options.ViewMaxAge)
            {
                return ValueTask.FromResult(last.View);
            }
        }

        return new ValueTask<ClusterGpuView>(FetchViewAsync(cancellationToken));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        var held = TrackedLeases();
        foreach (var lease in held)
        {
            lease.Revoke("the cluster pool shut down");
        }

        await ((Task)Task.WhenAll(held.Select(l => l.ReleaseAsync(CancellationToken.None)))).WaitAsync(_options.CallTimeout * 2).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _monitor.WaitAsync(_options.CallTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private async Task<ClusterLease> AcquireCoreAsync(ClusterGpuRequest request, CancellationToken cancellationToken) =>
        new(request, await AcquirePartsAsync(request, new HashSet<string>(StringComparer.Ordinal), cancellationToken).ConfigureAwait(false), 0, _time, _options.HolderDeadline, ReleaseLeaseAsync);

    /// <summary>
    /// Renews what survives of <paramref name="lease"/> (a part its host no longer holds, or that gets no answer, is
    /// lost too), acquires the lost devices anew under the request id and the next round, and hands every part to a
    /// new lease with a new token; the old lease ends without releasing anything.
    /// </summary>
    private async Task<ClusterLease> ReacquireCoreAsync(ClusterLease lease, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var survivors = lease.HeldParts;
        var statuses = await RenewPartsAsync(survivors, linked.Token).ConfigureAwait(false);
        foreach (var part in survivors.Where(p => statuses.GetValueOrDefault(p, HostLeaseStatus.Unknown) != HostLeaseStatus.Held))
        {
            lease.MarkLost(part);
            _ = ReleaseOnHostAsync(part.Host.HostId, part.RequestId, CancellationToken.None); // no answer: make sure it goes
        }

        survivors = lease.HeldParts;
        var round = lease.Round + 1;
        IReadOnlyList<ClusterLeasePart> replacements = [];
        if (lease.LostParts.Sum(p => p.DeviceUuids.Count) is var lost and > 0)
        {
            var original = lease.Request;
            var request = new ClusterGpuRequest
            {
                RequestId = $"{original.RequestId}{ClusterGpuRequest.RoundSeparator}{round}",
                MemoryBytes = original.MemoryBytes,
                DeviceCount = lost,
                Placement = original.Placement,
                AllowDegraded = original.AllowDegraded,
                Elastic = true,
                ExcludedDevices = [.. survivors.SelectMany(p => p.DeviceUuids)], // a gang's devices are distinct
            };

            // StrictSpread keeps every device on a distinct host: the survivors' hosts are out.
            var excluded = original.Placement == GangPlacement.StrictSpread
                ? survivors.Select(p => p.Host.HostId).ToHashSet(StringComparer.Ordinal)
                : new HashSet<string>(StringComparer.Ordinal);
            replacements = await AcquirePartsAsync(request, excluded, linked.Token).ConfigureAwait(false);
        }

        var next = new ClusterLease(lease.Request, [.. survivors, .. replacements], round, _time, _options.HolderDeadline, ReleaseLeaseAsync);
        lock (_gate)
        {
            if (lease.Supersede())
            {
                _requests[lease.RequestId] = Task.FromResult(next);
                return next;
            }
        }

        // The holder released the lease meanwhile: give the replacements back too.
        await Task.WhenAll(replacements.Select(p => ReleaseOnHostAsync(p.Host.HostId, p.RequestId, CancellationToken.None))).ConfigureAwait(false);
        throw new InvalidOperationException($"Lease '{lease.RequestId}' was released while it was being re-acquired.");
    }

    /// <summary>Plans and reserves <paramref name="request"/>, never on a host in <paramref name="alwaysExcluded"/>, in bounded rounds.</summary>
    private async Task<IReadOnlyList<ClusterLeasePart>> AcquirePartsAsync(ClusterGpuRequest request, IReadOnlySet<string> alwaysExcluded, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var token = linked.Token;
        var failures = new List<string>();
        for (var attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            ClusterGpuView view;
            try
            {
                view = attempt == 1 ? await PlanningViewAsync(token).ConfigureAwait(false) : await FetchViewAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                // The directory moves when its silo goes (its soft state comes back with the next reports): try again.
                failures.Add($"view: {e.GetType().Name}: {e.Message}");
                if (attempt < _options.MaxAttempts)
                {
                    await Task.Delay(_options.RetryDelay * attempt, _time, token).ConfigureAwait(false);
                }

                continue;
            }

            var reports = view.Hosts.ToDictionary(h => h.Host.HostId, StringComparer.Ordinal);
            var excluded = new HashSet<string>(alwaysExcluded, StringComparer.Ordinal);
            while (ClusterPlanner.Plan(reports.Values, request, excluded) is { } plan)
            {
                var parts = plan.Count == 1
                    ? await ReserveOneAsync(request, plan[0].Host, plan[0].Devices, reports, excluded, failures, token).ConfigureAwait(false)
                    : await ReserveGangAsync(request, plan, reports, excluded, failures, token).ConfigureAwait(false);
                if (parts is not null)
                {
                    return parts;
                }
            }

            if (failures.Count == 0 || attempt == _options.MaxAttempts || !failures[^1].StartsWith("view:", StringComparison.Ordinal))
            {
                failures.Add($"view: {view.Hosts.Count} live host(s), none can hold {request.DeviceCount} x {ByteSize.Format(request.MemoryBytes)} ({request.Placement})");
            }

            if (attempt < _options.MaxAttempts)
            {
                await Task.Delay(_options.RetryDelay * attempt, _time, token).ConfigureAwait(false);
            }
        }

        throw new ClusterCapacityException(request.RequestId, _options.MaxAttempts,
            $"No host of the cluster granted {request} in {_options.MaxAttempts} round(s): {string.Join("; ", failures.TakeLast(6))}");
    }

    private async Task<IReadOnlyList<ClusterLeasePart>?> ReserveOneAsync(ClusterGpuRequest request, GpuHostReport host, int devices, Dictionary<string, GpuHostReport> reports, HashSet<string> excluded, List<string> failures, CancellationToken token)
    {
        var id = host.Host.HostId;
        excluded.Add(id);
        try
        {
            var result = await Host(id).ReserveAsync(request.RequestId, request.MemoryBytes, devices, request.AllowDegraded, _options.LeaseTtl, prepare: false, request.ExcludedDevices)
                .WaitAsync(_options.CallTimeout, token).ConfigureAwait(false);
            if (result.Grant is { } grant)
            {
                return [grant];
            }

            failures.Add(result.Refusal ?? $"{id} refused");
            if (result.Report is { } fresh)
            {
                reports[id] = fresh;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            // Unknown outcome: undo whatever may have been granted (else the part expires with its TTL).
            failures.Add($"{id}: {e.GetType().Name}: {e.Message}");
            _ = AbortQuietlyAsync(id, request.RequestId);
        }

        return null;
    }

    private async Task<IReadOnlyList<ClusterLeasePart>?> ReserveGangAsync(ClusterGpuRequest request, IReadOnlyList<(GpuHostReport Host, int Devices)> plan, Dictionary<string, GpuHostReport> reports, HashSet<string> excluded, List<string> failures, CancellationToken token)
    {
        var excludedBefore = excluded.Count;
        // Phase 1: prepare everywhere with the short TTL (a coordinator that dies now leaks nothing: the parts expire).
        var prepared = await Task.WhenAll(plan.Select(async p =>
        {
            var id = p.Host.Host.HostId;
            try
            {
                var result = await Host(id).ReserveAsync(request.RequestId, request.MemoryBytes, p.Devices, request.AllowDegraded, _options.PrepareTtl, prepare: true, request.ExcludedDevices)
                    .WaitAsync(_options.CallTimeout, token).ConfigureAwait(false);
                return (Id: id, result.Grant, Failure: result.Grant is null ? result.Refusal ?? $"{id} refused" : null, result.Report);
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                return (Id: id, Grant: (ClusterLeasePart?)null, Failure: $"{id}: {e.GetType().Name}: {e.Message}", Report: (GpuHostReport?)null);
            }
        })).ConfigureAwait(false);
        try
        {
            var ok = prepared.All(p => p.Grant is not null);
            if (ok && BetweenPhases is { } between)
            {
                await between(token).ConfigureAwait(false);
            }

            if (ok)
            {
                // Phase 2: commit everywhere; a host lost in between turns the whole gang into an abort.
                var committed = await Task.WhenAll(prepared.Select(async p =>
                {
                    try
                    {
                        return await Host(p.Id).CommitAsync(request.RequestId, _options.LeaseTtl).WaitAsync(_options.CallTimeout, token).ConfigureAwait(false) == HostLeaseStatus.Held
                            ? null : $"{p.Id}: the prepared part ended before commit";
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        return $"{p.Id}: commit failed: {e.GetType().Name}: {e.Message}";
                    }
                })).ConfigureAwait(false);
                if (committed.All(c => c is null))
                {
                    return [.. prepared.Select(p => p.Grant!)];
                }

                failures.AddRange(committed.OfType<string>());
                foreach (var (c, p) in committed.Zip(prepared))
                {
                    if (c is not null)
                    {
                        excluded.Add(p.Id);
                    }
                }
            }
            else
            {
                foreach (var p in prepared.Where(p => p.Grant is null))
                {
                    failures.Add(p.Failure!);
                    excluded.Add(p.Id);
                    if (p.Report is { } fresh)
                    {
                        reports[p.Id] = fresh;
                    }
                }
            }
        }
        catch
        {
            // Whatever went wrong (cancellation included), nothing prepared stays behind.
            await Task.WhenAll(prepared.Where(p => p.Grant is not null).Select(p => AbortQuietlyAsync(p.Id, request.RequestId))).ConfigureAwait(false);
            throw;
        }

        // Abort everything prepared (all or nothing); the id may be prepared again in the next plan.
        await Task.WhenAll(prepared.Select(p => AbortQuietlyAsync(p.Id, request.RequestId))).ConfigureAwait(false);
        if (excluded.Count == excludedBefore)
        {
            excluded.Add(plan[0].Host.Host.HostId); // progress is bounded: every round leaves out one host more
        }

        return null;
    }

    private IGpuHostGrain Host(string hostId) => _grains.GetGrain<IGpuHostGrain>(hostId);

    private async Task AbortQuietlyAsync(string hostId, string requestId)
    {
        try
        {
            await Host(hostId).AbortAsync(requestId).WaitAsync(_options.CallTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogCallFailed(hostId, "abort", e);
        }
    }

    private async Task<ClusterReleaseResult> ReleaseLeaseAsync(ClusterLease lease, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _requests.Remove(lease.RequestId);
            if (_ended.Add(lease.RequestId))
            {
                _endedOrder.Enqueue(lease.RequestId);
                while (_endedOrder.Count > EndedRetention)
                {
                    _ended.Remove(_endedOrder.Dequeue());
                }
            }
        }

        var results = await Task.WhenAll(lease.Parts.Select(p => ReleaseOnHostAsync(p.Host.HostId, p.RequestId, cancellationToken))).ConfigureAwait(false);
        var combined = Combine(results);
        return combined == ClusterReleaseResult.Unknown && lease.RevocationReason is not null ? ClusterReleaseResult.AlreadyReleased : combined;
    }

    /// <summary>Releases on one host; a host that cannot be reached counts as released (its part expires with the TTL).</summary>
    private async Task<ClusterReleaseResult> ReleaseOnHostAsync(string hostId, string requestId, CancellationToken cancellationToken)
    {
        try
        {
            return await Host(hostId).ReleaseAsync(requestId).WaitAsync(_options.CallTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogCallFailed(hostId, "release", e);
            return ClusterReleaseResult.AlreadyReleased;
        }
    }

    private static ClusterReleaseResult Combine(IReadOnlyCollection<ClusterReleaseResult> results) =>
        results.Contains(ClusterReleaseResult.Released) ? ClusterReleaseResult.Released
        : results.Contains(ClusterReleaseResult.AlreadyReleased) ? ClusterReleaseResult.AlreadyReleased
        : ClusterReleaseResult.Unknown;

    [LoggerMessage(1410, LogLevel.Debug, "Cluster pool: {Host} {What} failed")]
    private partial void LogCallFailed(string host, string what, Exception exception);
}
