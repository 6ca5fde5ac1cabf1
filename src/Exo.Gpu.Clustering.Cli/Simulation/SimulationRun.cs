using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Cli.Simulation;

/// <summary>What to simulate.</summary>
/// <param name="Devices">How many simulated devices, 1 to 1,024.</param>
/// <param name="Jobs">How many jobs arrive.</param>
/// <param name="Seed">The seed of the job stream, the cluster and the selector.</param>
/// <param name="Profile">homogeneous or heterogeneous.</param>
/// <param name="Load">The arrival rate as a fraction of what the cluster can serve (its memory-time); above 1 the queue grows without end.</param>
internal sealed record SimulationSettings(int Devices, int Jobs, int Seed, string Profile, double Load = SimulationSettings.DefaultLoad)
{
    /// <summary>The default <see cref="Load"/>: busy, with some waiting, and a queue that does not grow without end.</summary>
    public const double DefaultLoad = 0.7;
}

/// <summary>
/// Runs a seeded stream of jobs through a <see cref="GpuClusteringManager"/> on the simulated cluster, in simulated time:
/// each job waits for a lease (FIFO), runs for its duration with its load applied to the simulated devices, and
/// releases; one device is lost mid-run and the jobs it held are re-queued. Everything happens in whole simulated
/// seconds on one logical thread, so the same settings give the same report, byte for byte, at every size.
/// </summary>
/// <remarks>
/// <para><b>Deterministic.</b> Each simulated second has fixed points: the clock moves (the backend's events and the
/// selector's timers fire, on this thread), the devices' workloads are set, telemetry is refreshed, and then the health
/// changes that refresh caused take effect (<see cref="DeviceSelectorOptions.ApplyHealthChangesOnRefresh"/>: revocations
/// and grants on this thread, in order), then leases are released and requests queued. Nothing is applied on the
/// thread pool while the loop runs.</para>
/// <para><b>Linear.</b> Arrivals follow the target load (<see cref="SimulationSettings.Load"/>), so the queue stays
/// bounded unless asked otherwise; each second costs O(devices + running jobs + that second's grants), never
/// O(waiting jobs): grants come in FIFO order, so they are collected from the head of the queue.</para>
/// </remarks>
internal static class SimulationRun
{
    /// <summary>Where simulated time starts (fixed, so reports never carry wall-clock values).</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private const long GiB = 1L << 30;
    private const double MeanDurationSeconds = 100; // 20 + uniform 0..160
    private const double GangShare = 0.1;
    private static readonly long[] MemorySizes = [2 * GiB, 4 * GiB, 8 * GiB, 12 * GiB, 16 * GiB, 24 * GiB, 32 * GiB];

    /// <summary>How long after the last arrival a stream may run; what cannot finish by then is cut off and reported as unfinished.</summary>
    private static readonly TimeSpan Horizon = TimeSpan.FromDays(2);

    public static async Task<SimulationReport> RunAsync(SimulationSettings settings, CancellationToken cancellationToken)
    {
        var random = new Random(settings.Seed);
        var profile = settings.Profile == "homogeneous"
            ? SimulatedClusterProfile.Homogeneous(settings.Devices)
            : SimulatedClusterProfile.Heterogeneous(settings.Devices);
        // One device is lost, for good, when half the jobs have arrived (not with a single device: nothing could finish).
        int? lostIndex = settings.Devices > 1 ? random.Next(settings.Devices) : null;
        var jobs = MakeJobs(settings, profile, lostIndex, random);
        var lostAt = TimeSpan.FromSeconds(jobs[jobs.Length / 2].ArrivalSecond);
        var clock = new VirtualTimeProvider(Epoch);
        var backend = new SimulatedGpuBackend(
            profile,
            lostIndex is int k ? new SimulatedFaultPlan([new SimulatedFault(k, SimulatedFaultKind.Lost, lostAt)]) : SimulatedFaultPlan.None,
            settings.Seed,
            clock);

        var options = new GpuClusteringOptions
        {
            EnablePoller = false,
            RediscoveryInterval = null,
            DrainTimeout = TimeSpan.Zero,
            Telemetry = new TelemetryOptions { HistoryCapacity = 16, StalenessLimit = TimeSpan.FromSeconds(5) },
            Selector = new DeviceSelectorOptions { Seed = settings.Seed, MemoryHeadroomBytes = GiB, ApplyHealthChangesOnRefresh = true },
        };
        var services = new GpuClusteringServices { TimeProvider = clock, Backends = { backend } };
        var manager = await GpuClusteringManager.StartAsync(options, services, cancellationToken).ConfigureAwait(false);
        await using (manager.ConfigureAwait(false))
        {
            return await DriveAsync(settings, manager, backend, clock, jobs, lostIndex, lostAt, cancellationToken).ConfigureAwait(false);
        }
    }

    private static Job[] MakeJobs(SimulationSettings settings, SimulatedClusterProfile profile, int? lostIndex, Random random)
    {
        var smallest = profile.Devices.Min(d => d.TotalMemoryBytes) - GiB;
        var gangShare = settings.Devices > 1 ? GangShare : 0;

        // The memory-time the cluster serves per second once the lost device is gone: each device's memory less the
        // headroom and its mean background use (the simulated backend's model: 2 % plus a tenth of its base load); and
        // what a job asks for on average.
        var capacityGiB = profile.Devices
            .Where((_, i) => i != lostIndex)
            .Sum(d => (d.TotalMemoryBytes - GiB - (d.TotalMemoryBytes * (0.02 + (0.001 * d.BaseUtilizationPercent)))) / GiB);
        var singleGiB = MemorySizes.Average(m => (double)m) / GiB;
        var gangGiB = 2 * MemorySizes.Average(m => (double)Math.Min(m, smallest)) / GiB;
        var jobGiBSeconds = ((1 - gangShare) * singleGiB + (gangShare * gangGiB)) * MeanDurationSeconds;
        var meanGap = jobGiBSeconds / (settings.Load * capacityGiB);

        var jobs = new Job[settings.Jobs];
        var arrival = 0.0;
        for (var i = 0; i < jobs.Length; i++)
        {
            arrival += -Math.Log(1 - random.NextDouble()) * meanGap;
            var gang = gangShare > 0 && random.NextDouble() < gangShare ? 2 : 1;
            var memory = MemorySizes[random.Next(MemorySizes.Length)];
            if (gang > 1)
            {
                memory = Math.Min(memory, smallest); // a gang can land on any two devices
            }

            jobs[i] = new Job((long)Math.Floor(arrival), memory, gang, 20 + random.Next(161), 10 + random.Next(26));
        }

        return jobs;
    }

    private static async Task<SimulationReport> DriveAsync(
        SimulationSettings settings,
        GpuClusteringManager manager,
        SimulatedGpuBackend backend,
        VirtualTimeProvider clock,
        Job[] jobs,
        int? lostIndex,
        TimeSpan lostAt,
        CancellationToken cancellationToken)
    {
        var devices = backend.AllDevices;
        var stats = devices.Select(d => new DeviceStats(d)).ToArray();
        var load = new DeviceLoad(devices.Count);
        var waiting = new Queue<Job>();
        var running = new List<Job>();
        var waits = new List<long>();
        var next = 0;
        var completed = 0;
        var requeued = 0;
        var failed = 0;
        var second = 0L;
        var last = jobs[^1].ArrivalSecond + (long)Horizon.TotalSeconds;
        for (; completed + failed < jobs.Length && second <= last; second++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            clock.AdvanceTo(Epoch + TimeSpan.FromSeconds(second));
            load.Apply(backend);
            await manager.RefreshTelemetryAsync(cancellationToken).ConfigureAwait(false);

            // Finished and revoked jobs give their leases back first: that is what lets waiters in. A lease is revoked
            // (its token fired, on this thread) when one of its devices was lost or became unhealthy in the refresh.
            var kept = 0;
            for (var i = 0; i < running.Count; i++)
            {
                var job = running[i];
                var revoked = job.Lease.Token.IsCancellationRequested;
                if (!revoked && second < job.StartedAt + job.DurationSeconds)
                {
                    running[kept++] = job;
                    continue;
                }

                load.Remove(job);
                await job.Lease.DisposeAsync().ConfigureAwait(false);
                if (revoked)
                {
                    job.Requeues++;
                    requeued++;
                    Enqueue(manager, job, second, waiting, cancellationToken);
                }
                else
                {
                    completed++;
                }
            }

            running.RemoveRange(kept, running.Count - kept);
            for (; next < jobs.Length && jobs[next].ArrivalSecond <= second; next++)
            {
                Enqueue(manager, jobs[next], second, waiting, cancellationToken);
            }

            // Grants happen inside the selector, in FIFO order, as capacity frees: they are a prefix of the queue.
            while (waiting.TryPeek(out var job) && job.Pending!.IsCompleted)
            {
                waiting.Dequeue();
                if (job.Pending.IsCompletedSuccessfully)
                {
                    job.Lease = job.Pending.Result;
                    job.Pending = null;
                    job.StartedAt = second;
                    waits.Add(second - job.EnqueuedAt);
                    running.Add(job);
                    load.Add(job);
                    foreach (var device in job.Lease.Devices)
                    {
                        stats[device.Index].JobsRun++;
                    }
                }
                else
                {
                    failed++;
                }
            }

            Observe(manager, stats);
        }

        // Anything still held or waiting at the horizon is given back before the report.
        foreach (var job in running)
        {
            await job.Lease.DisposeAsync().ConfigureAwait(false);
        }

        var leases = manager.GetLeaseSnapshot();
        return new SimulationReport(
            settings,
            second - 1,
            lostIndex is int k ? new LostDevice(k, devices[k].Uuid, (long)lostAt.TotalSeconds) : null,
            completed,
            requeued,
            failed,
            waiting.Count + running.Count,
            leases.Granted,
            leases.Released,
            leases.Revoked,
            Percentile(waits, 0.50),
            Percentile(waits, 0.95),
            waits.Count == 0 ? 0 : waits.Max(),
            [.. stats.Select(s => s.ToReport())]);
    }

    private static void Enqueue(GpuClusteringManager manager, Job job, long second, Queue<Job> waiting, CancellationToken cancellationToken)
    {
        job.EnqueuedAt = second;
        job.Pending = manager.AcquireAsync(new GpuRequest { MemoryBytes = job.MemoryBytes, DeviceCount = job.Gang }, cancellationToken).AsTask();
        waiting.Enqueue(job);
    }

    private static void Observe(GpuClusteringManager manager, DeviceStats[] stats)
    {
        foreach (var status in manager.GetStatuses())
        {
            var s = stats[status.Device.Index];
            if (status.Health == GpuHealth.Lost)
            {
                s.Lost = true;
            }
            else if (status is { IsFresh: true, Latest.UtilizationPercent: double u })
            {
                s.UtilizationSum += u;
                s.UtilizationSamples++;
            }
        }

        foreach (var device in manager.GetLeaseSnapshot().Devices)
        {
            var s = stats[device.Device.Index];
            s.PeakReservedBytes = Math.Max(s.PeakReservedBytes, device.ReservedBytes);
        }
    }

    /// <summary>Nearest-rank percentile (the smallest value with at least <paramref name="p"/> of the values at or below it).</summary>
    internal static long Percentile(List<long> values, double p)
    {
        if (values.Count == 0)
        {
            return 0;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    private sealed class Job(long arrivalSecond, long memoryBytes, int gang, int durationSeconds, int utilizationPercent)
    {
        public long ArrivalSecond { get; } = arrivalSecond;

        public long MemoryBytes { get; } = memoryBytes;

        public int Gang { get; } = gang;

        public int DurationSeconds { get; } = durationSeconds;

        public int UtilizationPercent { get; } = utilizationPercent;

        public Task<GpuLease>? Pending { get; set; }

        public GpuLease Lease { get; set; }

        public long EnqueuedAt { get; set; }

        public long StartedAt { get; set; }

        public int Requeues { get; set; }
    }

    /// <summary>
    /// The running jobs' load per device, kept as jobs start and end; only the devices whose load changed are told
    /// (<see cref="SimulatedGpuBackend.SetWorkload"/>), once per second.
    /// </summary>
    private sealed class DeviceLoad(int devices)
    {
        private readonly double[] _utilization = new double[devices];
        private readonly long[] _memory = new long[devices];
        private readonly bool[] _dirty = new bool[devices];
        private readonly List<int> _changed = [];

        public void Add(Job job) => Change(job, +1);

        public void Remove(Job job) => Change(job, -1);

        public void Apply(SimulatedGpuBackend backend)
        {
            foreach (var slot in _changed)
            {
                backend.SetWorkload(slot, Math.Clamp(_utilization[slot], 0, 100), Math.Max(0, _memory[slot]));
                _dirty[slot] = false;
            }

            _changed.Clear();
        }

        private void Change(Job job, int sign)
        {
            foreach (var device in job.Lease.Devices)
            {
                var slot = device.Index;
                _utilization[slot] += sign * job.UtilizationPercent;
                _memory[slot] += sign * job.MemoryBytes;
                if (!_dirty[slot])
                {
                    _dirty[slot] = true;
                    _changed.Add(slot);
                }
            }
        }
    }

    private sealed class DeviceStats(GpuDevice device)
    {
        public int JobsRun { get; set; }

        public long PeakReservedBytes { get; set; }

        public double UtilizationSum { get; set; }

        public int UtilizationSamples { get; set; }

        public bool Lost { get; set; }

        public DeviceReport ToReport() => new(
            device.Index,
            device.Uuid,
            device.Name,
            JobsRun,
            PeakReservedBytes,
            UtilizationSamples == 0 ? 0 : Math.Round(UtilizationSum / UtilizationSamples, 1),
            Lost);
    }
}
