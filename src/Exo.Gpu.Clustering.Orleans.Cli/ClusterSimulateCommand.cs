using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary>
/// <c>simulate</c>: N simulated GPU hosts as real silos on loopback, a seeded stream of cluster-lease jobs (single
/// devices and gangs, mixed sizes) through the cluster pool, one host killed mid-run, its jobs re-queued (Spread gangs
/// are elastic: they re-acquire only the lost device and go on; re-queued if that fails). Real
/// networking is not byte-deterministic; the invariants are: every job completes, granted = released + revoked +
/// expired, and no device is oversubscribed (counted here, independently of what the hosts granted).
/// </summary>
internal static class ClusterSimulateCommand
{
    private const long GiB = 1L << 30;

    public static async Task<int> RunAsync(ClusterCliArgs args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var hosts = args.Int("--hosts", 4, 2, 16);
        var devices = args.Int("--devices-per-host", 2, 1, 16);
        var jobCount = args.Int("--jobs", 200, 1, 100_000);
        var seed = args.Int("--seed", 1, int.MinValue, int.MaxValue);
        var json = args.Flag("--json");
        args.RejectUnknown();

        var jobs = MakeJobs(jobCount, seed, maxGang: Math.Min(2, (hosts - 1) * devices));
        var clock = Stopwatch.StartNew();
        await using var cluster = await LoopbackCluster.StartAsync(hosts, devices, seed, "exo-gpu-sim-" + Guid.NewGuid().ToString("N")[..8], null, cancellationToken).ConfigureAwait(false);
        var pool = cluster.Grains.CreateClusterGpuPool(new ClusterGpuPoolOptions
        {
            LeaseTtl = TimeSpan.FromSeconds(5),
            HolderDeadline = TimeSpan.FromSeconds(4),
            RenewInterval = TimeSpan.FromMilliseconds(200),
            PrepareTtl = TimeSpan.FromSeconds(2),
            MaxAttempts = 3,
        });
        await using var poolScope = pool;
        var view = await LoopbackCluster.WaitForHostsAsync(pool, hosts, cancellationToken).ConfigureAwait(false);
        var capacity = view.Hosts.SelectMany(h => h.Devices.Select(d => (d.Uuid, h.Host.HostId, d.TotalMemoryBytes))).ToDictionary(d => d.Uuid);
        var run = new Run(jobs, capacity.ToDictionary(c => c.Key, c => (c.Value.HostId, c.Value.TotalMemoryBytes)));
        var killed = new TaskCompletionSource<LostHost>(TaskCreationOptions.RunContinuationsAsynchronously);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(5));
        var workers = Enumerable.Range(0, hosts * devices).Select(worker => Task.Run(() => WorkAsync(pool, run, () =>
        {
            if (Interlocked.Exchange(ref run.KillTriggered, 1) == 0)
            {
                _ = Task.Run(async () => killed.TrySetResult(await KillAsync(cluster, pool, run).ConfigureAwait(false)), CancellationToken.None);
            }
        }, deadline.Token), CancellationToken.None)).ToList();
        var timedOut = false;
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            timedOut = true;
        }

        var lost = await killed.Task.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        var rest = await AtRestAsync(pool, cancellationToken).ConfigureAwait(false);
        var report = new Report(hosts, devices, jobCount, run, lost, rest, clock.Elapsed);
        if (json)
        {
            report.WriteJson(output);
        }
        else
        {
            report.WriteTable(output);
        }

        if (timedOut || !report.InvariantsHold)
        {
            await error.WriteLineAsync($"simulate: invariants broken{(timedOut ? " (timed out after 5 min)" : string.Empty)}: {report.Problems}").ConfigureAwait(false);
            return 1;
        }

        return 0;
    }

    internal static List<ClusterJob> MakeJobs(int count, int seed, int maxGang)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var gang = maxGang > 1 && random.Next(4) == 0;
            return new ClusterJob(i, gang ? 2 : 1, random.Next(4, 41) * GiB, gang && random.Next(2) == 0 ? GangPlacement.Spread : GangPlacement.Pack, TimeSpan.FromMilliseconds(random.Next(50, 500)));
        })];
    }

    private static async Task WorkAsync(IClusterGpuPool pool, Run run, Action halfway, CancellationToken cancellationToken)
    {
        while (Volatile.Read(ref run.Completed) < run.Jobs.Count)
        {
            if (!run.Pending.TryDequeue(out var job))
            {
                await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                continue;
            }

            ClusterLease lease;
            try
            {
                lease = await pool.AcquireAsync(new ClusterGpuRequest
                {
                    RequestId = $"job-{job.Id}-{job.Attempt}",
                    MemoryBytes = job.MemoryBytes,
                    DeviceCount = job.Devices,
                    Placement = job.Placement,
                    Elastic = job.Elastic,
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ClusterCapacityException or OrleansException or TimeoutException)
            {
                job.Attempt++;
                run.Pending.Enqueue(job); // waits: nothing fits now
                await Task.Delay(10, cancellationToken).ConfigureAwait(false);
                continue;
            }

            Interlocked.Increment(ref run.Granted);
            run.Reserve(lease, +1);
            if (Interlocked.Increment(ref run.Started) >= run.Jobs.Count / 2)
            {
                halfway();
            }

            var finished = await RunJobAsync(job, lease).ConfigureAwait(false);
            if (!finished && job.Elastic && lease.LostParts.Count > 0 && lease.LostParts.Count < lease.Parts.Count)
            {
                // Re-form the gang: keep the surviving part, acquire only the lost device, run again.
                try
                {
                    var reformed = await pool.ReacquireAsync(lease, cancellationToken).ConfigureAwait(false);
                    run.Reserve(lease, -1);
                    Interlocked.Increment(ref run.Revoked);
                    Interlocked.Increment(ref run.Granted);
                    Interlocked.Increment(ref run.Reformed);
                    lease = reformed;
                    run.Reserve(lease, +1);
                    finished = await RunJobAsync(job, lease).ConfigureAwait(false);
                }
                catch (Exception e) when (e is ClusterCapacityException or OrleansException or TimeoutException)
                {
                    // Nothing to replace it with now: released and re-queued below, like any revoked job.
                }
            }

            run.Reserve(lease, -1);
            var released = await lease.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            if (!finished || lease.RevocationReason is not null)
            {
                Interlocked.Increment(ref run.Revoked);
                Interlocked.Increment(ref run.Requeued);
                job.Attempt++;
                run.Pending.Enqueue(job);
                continue;
            }

            Interlocked.Increment(ref released == ClusterReleaseResult.Released ? ref run.Released : ref run.Expired);
            foreach (var part in lease.Parts)
            {
                run.JobsRun.AddOrUpdate(part.Host.HostId, 1, (_, n) => n + 1);
            }

            Interlocked.Increment(ref run.Completed);
        }
    }

    /// <summary>Runs the job's work under the lease: true when it finished, false when the lease's token fired first.</summary>
    private static async Task<bool> RunJobAsync(ClusterJob job, ClusterLease lease)
    {
        try
        {
            await Task.Delay(job.Duration, lease.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (lease.Token.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Kills the host (never the first: it keeps the membership table) holding the most leases now.</summary>
    private static async Task<LostHost> KillAsync(LoopbackCluster cluster, IClusterGpuPool pool, Run run)
    {
        var atJob = Volatile.Read(ref run.Started);
        var candidates = cluster.HostIds.Skip(1).ToList();
        var busy = (await pool.GetViewAsync(CancellationToken.None).ConfigureAwait(false)).Hosts
            .Where(h => candidates.Contains(h.Host.HostId))
            .OrderByDescending(h => h.ActiveLeases).ThenBy(h => h.Host.HostId, StringComparer.Ordinal)
            .Select(h => h.Host.HostId).FirstOrDefault();
        var victim = busy ?? candidates[^1];
        var clock = Stopwatch.StartNew();
        await cluster.KillAsync(victim).ConfigureAwait(false);
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            var view = await pool.GetViewAsync(CancellationToken.None).ConfigureAwait(false);
            if (view.Departed.Any(d => d.HostId == victim) && view.Hosts.All(h => h.Host.HostId != victim))
            {
                return new LostHost(victim, atJob, clock.Elapsed);
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        return new LostHost(victim, atJob, null);
    }

    /// <summary>The surviving hosts' counters once no lease is live (bounded wait).</summary>
    private static async Task<IReadOnlyList<GpuHostReport>> AtRestAsync(IClusterGpuPool pool, CancellationToken cancellationToken)
    {
        ClusterGpuView view;
        var clock = Stopwatch.StartNew();
        do
        {
            view = await pool.GetViewAsync(cancellationToken).ConfigureAwait(false);
            if (view.Hosts.All(h => h.ActiveLeases == 0))
            {
                break;
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
        while (clock.Elapsed < TimeSpan.FromSeconds(15));

        return view.Hosts;
    }

    internal sealed class ClusterJob(int id, int devices, long memoryBytes, GangPlacement placement, TimeSpan duration)
    {
        public int Id { get; } = id;

        public int Devices { get; } = devices;

        public long MemoryBytes { get; } = memoryBytes;

        public GangPlacement Placement { get; } = placement;

        public TimeSpan Duration { get; } = duration;

        public int Attempt { get; set; }

        /// <summary>Spread gangs are elastic: on a host loss they re-acquire only the lost device.</summary>
        public bool Elastic => Devices > 1 && Placement == GangPlacement.Spread;
    }

    internal sealed record LostHost(string Id, int AfterJobsStarted, TimeSpan? DetectedAfter);

    /// <summary>The run's shared counters and the independent reservation ledger.</summary>
    internal sealed class Run(List<ClusterJob> jobs, Dictionary<string, (string HostId, long TotalMemoryBytes)> devices)
    {
        public List<ClusterJob> Jobs { get; } = jobs;

        public ConcurrentQueue<ClusterJob> Pending { get; } = new(jobs);

        public ConcurrentDictionary<string, int> JobsRun { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, (string HostId, long TotalMemoryBytes)> Devices { get; } = devices;

        public Dictionary<string, long> Reserved { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> PeakByHost { get; } = new(StringComparer.Ordinal);

        public int Completed;
        public int Requeued;
        public int Reformed;
        public int Started;
        public int Granted;
        public int Released;
        public int Revoked;
        public int Expired;
        public int Oversubscriptions;
        public int KillTriggered;

        /// <summary>Adds (+1) or removes (-1) a lease's bytes on its devices; counts any device over its memory.</summary>
        public void Reserve(ClusterLease lease, int sign)
        {
            lock (Reserved)
            {
                foreach (var part in lease.Parts)
                {
                    foreach (var uuid in part.DeviceUuids)
                    {
                        var now = Reserved.GetValueOrDefault(uuid) + (sign * part.MemoryBytes);
                        Reserved[uuid] = now;
                        if (sign > 0 && now > Devices[uuid].TotalMemoryBytes)
                        {
                            Oversubscriptions++;
                        }
                    }

                    var host = part.Host.HostId;
                    var onHost = Devices.Where(d => d.Value.HostId == host).Sum(d => Reserved.GetValueOrDefault(d.Key));
                    PeakByHost[host] = Math.Max(PeakByHost.GetValueOrDefault(host), onHost);
                }
            }
        }
    }

    internal sealed class Report(int hosts, int devices, int jobs, Run run, LostHost lost, IReadOnlyList<GpuHostReport> survivors, TimeSpan elapsed)
    {
        public bool InvariantsHold => Problems.Length == 0;

        public string Problems => string.Join("; ", new[]
        {
            run.Completed == jobs ? null : $"{run.Completed} of {jobs} jobs completed",
            run.Granted == run.Released + run.Revoked + run.Expired ? null : $"leases granted {run.Granted} != released {run.Released} + revoked {run.Revoked} + expired {run.Expired}",
            run.Oversubscriptions == 0 ? null : $"{run.Oversubscriptions} oversubscriptions",
            survivors.All(h => h.Granted == h.Released + h.Revoked + h.Expired) ? null : "a surviving host's granted != released + revoked + expired",
            lost.DetectedAfter is not null ? null : $"{lost.Id} was not seen dead within 60 s",
        }.OfType<string>());

        public void WriteJson(TextWriter output)
        {
            using var stream = new MemoryStream();
            using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteNumber("hosts", hosts);
                json.WriteNumber("devicesPerHost", devices);
                json.WriteNumber("jobs", jobs);
                json.WriteNumber("jobsCompleted", run.Completed);
                json.WriteNumber("jobsRequeued", run.Requeued);
                json.WriteNumber("jobsReformed", run.Reformed);
                json.WriteStartObject("leases");
                json.WriteNumber("granted", run.Granted);
                json.WriteNumber("released", run.Released);
                json.WriteNumber("revoked", run.Revoked);
                json.WriteNumber("expired", run.Expired);
                json.WriteEndObject();
                json.WriteStartObject("survivingHostLeases");
                json.WriteNumber("granted", survivors.Sum(h => h.Granted));
                json.WriteNumber("released", survivors.Sum(h => h.Released));
                json.WriteNumber("revoked", survivors.Sum(h => h.Revoked));
                json.WriteNumber("expired", survivors.Sum(h => h.Expired));
                json.WriteEndObject();
                json.WriteStartObject("lostHost");
                json.WriteString("id", lost.Id);
                json.WriteNumber("afterJobsStarted", lost.AfterJobsStarted);
                if (lost.DetectedAfter is { } seen)
                {
                    json.WriteNumber("detectedAfterMs", Math.Round(seen.TotalMilliseconds, 1));
                }
                else
                {
                    json.WriteNull("detectedAfterMs");
                }

                json.WriteEndObject();
                json.WriteNumber("oversubscriptions", run.Oversubscriptions);
                json.WriteStartArray("perHost");
                foreach (var host in run.Devices.Values.Select(d => d.HostId).Distinct().Order(StringComparer.Ordinal))
                {
                    json.WriteStartObject();
                    json.WriteString("id", host);
                    json.WriteNumber("jobsRun", run.JobsRun.GetValueOrDefault(host));
                    json.WriteNumber("peakReservedBytes", run.PeakByHost.GetValueOrDefault(host));
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteNumber("elapsedMs", Math.Round(elapsed.TotalMilliseconds));
                json.WriteEndObject();
            }

            output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        }

        public void WriteTable(TextWriter output)
        {
            output.WriteLine($"{hosts} hosts x {devices} devices, {jobs} jobs: {run.Completed} completed, {run.Requeued} re-queued, {run.Reformed} elastic gangs re-formed, {elapsed.TotalSeconds:F1} s");
            output.WriteLine($"leases: {run.Granted} granted = {run.Released} released + {run.Revoked} revoked + {run.Expired} expired");
            output.WriteLine($"lost host: {lost.Id} after {lost.AfterJobsStarted} jobs started, seen dead after {(lost.DetectedAfter is { } s ? $"{s.TotalMilliseconds:F0} ms" : "(not seen)")}");
            output.WriteLine($"oversubscriptions: {run.Oversubscriptions}");
            output.WriteLine($"{"host",-10} {"jobs run",9} {"peak reserved",14}");
            foreach (var host in run.Devices.Values.Select(d => d.HostId).Distinct().Order(StringComparer.Ordinal))
            {
                output.WriteLine($"{host,-10} {run.JobsRun.GetValueOrDefault(host),9} {ByteSize.Format(run.PeakByHost.GetValueOrDefault(host)),14}");
            }
        }
    }
}
