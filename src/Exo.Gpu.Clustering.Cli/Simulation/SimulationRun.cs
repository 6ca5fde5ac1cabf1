using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Cli.Simulation;

/// <summary>What to simulate.</summary>
internal sealed record SimulationSettings(int Devices, int Jobs, int Seed, string Profile);

/// <summary>
/// Runs a seeded stream of jobs through a <see cref="GpuClusteringManager"/> on the simulated cluster, in simulated time:
/// each job waits for a lease (FIFO), runs for its duration with its load applied to the simulated devices, and
/// releases; one device is lost mid-run and the jobs it held are re-queued. Everything happens in whole simulated
/// seconds on one logical thread, so the same settings give the same report, byte for byte.
/// </summary>
internal static class SimulationRun
{
    /// <summary>Where simulated time starts (fixed, so reports never carry wall-clock values).</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private const long GiB = 1L << 30;
    private static readonly long[] MemorySizes = [2 * GiB, 4 * GiB, 8 * GiB, 12 * GiB, 16 * GiB, 24 * GiB, 32 * GiB];

    /// <summary>The longest simulated run; a stream that cannot finish by then is cut off and reported as such.</summary>
    private static readonly TimeSpan Horizon = TimeSpan.FromDays(2);

    public static async Task<SimulationReport> RunAsync(SimulationSettings settings, CancellationToken cancellationToken)
    {
        var random = new Random(settings.Seed);
        var profile = settings.Profile == "homogeneous"
            ? SimulatedClusterProfile.Homogeneous(settings.Devices)
            : SimulatedClusterProfile.Heterogeneous(settings.Devices);
        var jobs = MakeJobs(settings, profile, random);

        // One device is lost, for good, when half the jobs have arrived (not with a single device: nothing could finish).
        int? lostIndex = settings.Devices > 1 ? random.Next(settings.Devices) : null;
        var lostAt = TimeSpan.FromSeconds(jobs[jobs.Length / 2].ArrivalSecond);
        var clock = new VirtualTimeProvider(Epoch);
        var backend = new SimulatedGpuBackend(new SimulatedGpuBackendOptions
        {
            Profile = profile,
            Seed = settings.Seed,
            TimeProvider = clock,
            FaultPlan = lostIndex is int k ? new SimulatedFaultPlan([new SimulatedFault(k, SimulatedFaultKind.Lost, lostAt)]) : SimulatedFaultPlan.None,
        });

        var options = new GpuClusteringOptions
        {
            TimeProvider = clock,
            EnablePoller = false,
            RediscoveryInterval = null,
            DrainTimeout = TimeSpan.Zero,
            Telemetry = new TelemetryOptions { HistoryCapacity = 16, StalenessLimit = TimeSpan.FromSeconds(5) },
            Selector = new DeviceSelectorOptions { Seed = settings.Seed, MemoryHeadroomBytes = GiB },
        };
        options.Backends.Add(new PolledOnlyBackend(backend));
        var manager = await GpuClusteringManager.StartAsync(options, cancellationToken).ConfigureAwait(false);
        await using (manager.ConfigureAwait(false))
        {
            return await DriveAsync(settings, manager, backend, clock, jobs, lostIndex, lostAt, cancellationToken).ConfigureAwait(false);
        }
    }

    private static Job[] MakeJobs(SimulationSettings settings, SimulatedClusterProfile profile, Random random)
    {
        var totalGiB = profile.Devices.Sum(d => (double)d.TotalMemoryBytes / GiB);
        var smallest = profile.Devices.Min(d => d.TotalMemoryBytes) - GiB;

        // Arrivals ask for about 85 % of the memory-time the cluster has (mean job: ~14 GiB for ~100 s): busy, some waiting.
        var meanGap = 14.0 * 100 / (0.85 * totalGiB);
        var jobs = new Job[settings.Jobs];
        var arrival = 0.0;
        for (var i = 0; i < jobs.Length; i++)
        {
            arrival += -Math.Log(1 - random.NextDouble()) * meanGap;
            var gang = settings.Devices > 1 && random.NextDouble() < 0.1 ? 2 : 1;
            var memory = MemorySizes[random.Next(MemorySizes.Length)];
            if (gang > 1)
            {
                memory = Math.Min(memory, smallest); // a gang can land on any two devices
            }

            jobs[i] = new Job(i, (long)Math.Floor(arrival), memory, gang, 20 + random.Next(161), 10 + random.Next(26));
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
        var slotOf = devices.Select((d, i) => (d.Uuid, i)).ToDictionary(p => p.Uuid, p => p.i, StringComparer.Ordinal);
        var stats = devices.Select(d => new DeviceStats(d)).ToArray();
        var waiting = new List<Job>();
        var running = new List<Job>();
        var waits = new List<long>();
        var next = 0;
        var completed = 0;
        var requeued = 0;
        var failed = 0;
        var second = 0L;
        for (; completed + failed < jobs.Length && second <= (long)Horizon.TotalSeconds; second++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            clock.AdvanceTo(Epoch + TimeSpan.FromSeconds(second));
            ApplyLoad(backend, running, slotOf, devices.Count);
            await manager.RefreshTelemetryAsync(cancellationToken).ConfigureAwait(false);
            var revokedDevices = RevokingDevices(manager);

            // Finished and revoked jobs give their leases back first: that is what lets waiters in.
            for (var i = 0; i < running.Count; i++)
            {
                var job = running[i];
                // A lease is revoked when one of its devices is lost or unhealthy. Its token fires too, but possibly on
                // another thread a moment later; the health read now is what keeps the run deterministic.
                if (job.Lease.Devices.Any(d => revokedDevices.Contains(d.Uuid)) || job.Lease.Token.IsCancellationRequested)
                {
                    await job.Lease.DisposeAsync().ConfigureAwait(false);
                    job.Requeues++;
                    requeued++;
                    Enqueue(manager, job, second, cancellationToken);
                    waiting.Add(job);
                }
                else if (second >= job.StartedAt + job.DurationSeconds)
                {
                    await job.Lease.DisposeAsync().ConfigureAwait(false);
                    completed++;
                }
                else
                {
                    continue;
                }

                running.RemoveAt(i--);
            }

            for (; next < jobs.Length && jobs[next].ArrivalSecond <= second; next++)
            {
                Enqueue(manager, jobs[next], second, cancellationToken);
                waiting.Add(jobs[next]);
            }

            // Grants happen inside the selector, in FIFO order, as capacity frees; collect them in arrival order.
            for (var i = 0; i < waiting.Count; i++)
            {
                var job = waiting[i];
                if (!job.Pending!.IsCompleted)
                {
                    continue;
                }

                waiting.RemoveAt(i--);
                if (job.Pending.IsCompletedSuccessfully)
                {
                    job.Lease = job.Pending.Result;
                    job.StartedAt = second;
                    waits.Add(second - job.EnqueuedAt);
                    running.Add(job);
                    foreach (var device in job.Lease.Devices)
                    {
                        stats[slotOf[device.Uuid]].JobsRun++;
                    }
                }
                else
                {
                    failed++;
                }
            }

            Observe(manager, stats, slotOf);
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

    private static HashSet<string> RevokingDevices(GpuClusteringManager manager)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var status in manager.GetStatuses())
        {
            if (status.Health is GpuHealth.Lost or GpuHealth.Unhealthy)
            {
                set.Add(status.Device.Uuid);
            }
        }

        return set;
    }

    private static void Enqueue(GpuClusteringManager manager, Job job, long second, CancellationToken cancellationToken)
    {
        job.EnqueuedAt = second;
        job.Pending = manager.AcquireAsync(new GpuRequest { MemoryBytes = job.MemoryBytes, DeviceCount = job.Gang }, cancellationToken).AsTask();
    }

    private static void ApplyLoad(SimulatedGpuBackend backend, List<Job> running, Dictionary<string, int> slotOf, int deviceCount)
    {
        Span<double> utilization = stackalloc double[deviceCount];
        Span<long> memory = stackalloc long[deviceCount];
        utilization.Clear();
        memory.Clear();
        foreach (var job in running)
        {
            foreach (var device in job.Lease.Devices)
            {
                var slot = slotOf[device.Uuid];
                utilization[slot] += job.UtilizationPercent;
                memory[slot] += job.MemoryBytes;
            }
        }

        for (var slot = 0; slot < deviceCount; slot++)
        {
            backend.SetWorkload(slot, Math.Min(100, utilization[slot]), memory[slot]);
        }
    }

    private static void Observe(GpuClusteringManager manager, DeviceStats[] stats, Dictionary<string, int> slotOf)
    {
        foreach (var status in manager.GetStatuses())
        {
            var s = stats[slotOf[status.Device.Uuid]];
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
            var s = stats[slotOf[device.Device.Uuid]];
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

    private sealed class Job(int id, long arrivalSecond, long memoryBytes, int gang, int durationSeconds, int utilizationPercent)
    {
        public int Id { get; } = id;

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
