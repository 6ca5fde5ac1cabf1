using System.Diagnostics;
using System.Runtime.InteropServices;
using Xunit.Abstractions;
using Exo.Gpu.Clustering.Orleans.Cli;
using Exo.Gpu.Clustering.Orleans.Hosts;
using Microsoft.Extensions.DependencyInjection;
using Exo.Gpu.Clustering.Orleans.Tests.Cluster;

namespace Exo.Gpu.Clustering.Orleans.Tests.Cli;

/// <summary>
/// Real silo processes: a two-silo loopback cluster in this process (its first silo keeps the membership table) and
/// one GPU host as a child process (<c>exo-gpu-cluster host</c>), crashed with SIGKILL or hung with SIGSTOP. Membership
/// is tuned (probe timeout 1 s, 2 missed probes). The child is killed in <c>finally</c>.
/// </summary>
[Collection(ProcessTestGroup.Name)]
public sealed partial class ProcessTests(ITestOutputHelper output)
{
    private const long GiB = 1L << 30;
    private const int SigKill = 9;
    private const int SigCont = 18;
    private const int SigStop = 19;

    [Fact]
    public async Task HostProcessKilled_SeenDeadWithinThreeSeconds_HoldersTokenFires()
    {
        await using var cluster = await StartClusterAsync();
        using var child = await StartChildAsync(cluster, "victim-kill");
        try
        {
            var (pool, lease) = await AcquireOnChildAsync(cluster, "victim-kill");
            await using var _ = pool;
            var fired = ClusterFixture.FiredAsync(lease);

            var clock = Stopwatch.StartNew();
            Kill(child.Process.Id, SigKill).Should().Be(0);
            await SeenDeadAsync(cluster, "victim-kill", TimeSpan.FromSeconds(30));
            var seen = clock.Elapsed;
            await fired.WaitAsync(TimeSpan.FromSeconds(30));

            output.WriteLine($"SIGKILL: seen dead after {seen.TotalMilliseconds:F0} ms");
            seen.Should().BeLessThan(TimeSpan.FromSeconds(3));
            lease.RevocationReason.Should().Contain("victim-kill");
        }
        finally
        {
            child.Stop();
        }
    }

    [Fact]
    public async Task HostProcessStopped_SeenDeadWithinFifteenSeconds_AndOnWakingRevokesItsOwnLeases()
    {
        await using var cluster = await StartClusterAsync();
        using var child = await StartChildAsync(cluster, "victim-stop");
        try
        {
            var (pool, lease) = await AcquireOnChildAsync(cluster, "victim-stop");
            await using var _ = pool;
            var fired = ClusterFixture.FiredAsync(lease);

            var clock = Stopwatch.StartNew();
            Kill(child.Process.Id, SigStop).Should().Be(0);
            await SeenDeadAsync(cluster, "victim-stop", TimeSpan.FromSeconds(45));
            var seen = clock.Elapsed;
            await fired.WaitAsync(TimeSpan.FromSeconds(30));
            Kill(child.Process.Id, SigCont).Should().Be(0);
            var exited = child.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await exited;

            output.WriteLine($"SIGSTOP: seen dead after {seen.TotalMilliseconds:F0} ms; exit code after SIGCONT {child.Process.ExitCode}");
            seen.Should().BeLessThan(TimeSpan.FromSeconds(15));
            child.Errors.Should().Contain("GPU host revoked 1 lease(s): membership declared this silo dead");
            child.Process.ExitCode.Should().NotBe(0, "Orleans fails a silo declared dead fast");
        }
        finally
        {
            child.Stop();
        }
    }

    [Fact]
    public async Task HostCutOffFromTheMembershipTable_LongerThanTheLeaseTtl_RevokesItsOwnLease()
    {
        // host-0 keeps the membership table (localhost clustering); host-1 holds a lease its holder keeps renewing.
        await using var cluster = await StartClusterAsync();
        var grains = cluster.ServicesOf("host-1").GetRequiredService<IGrainFactory>();
        var host = grains.GetGrain<IGpuHostGrain>("host-1");
        var ttl = TimeSpan.FromSeconds(3);
        var id = "cut-" + Guid.NewGuid();
        (await host.ReserveAsync(id, GiB, 1, false, ttl, prepare: false)).Grant.Should().NotBeNull();
        try
        {
            var clock = Stopwatch.StartNew();
            await cluster.KillAsync("host-0");
            var status = HostLeaseStatus.Held;
            while (status == HostLeaseStatus.Held && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(200); // the holder's renew interval: renews go on reaching host-1 all along
                status = (await host.RenewAsync([id], ttl))[0];
            }

            output.WriteLine($"cut off from the table: lease revoked after {clock.Elapsed.TotalMilliseconds:F0} ms (TTL {ttl.TotalSeconds} s)");
            status.Should().Be(HostLeaseStatus.Revoked);
            clock.Elapsed.Should().BeGreaterThan(ttl - TimeSpan.FromMilliseconds(200), "the cut must outlast the TTL");
            var report = await host.GetReportAsync();
            (report.Granted, report.Revoked, report.ActiveLeases).Should().Be((1L, 1L, 0));
        }
        finally
        {
            await cluster.KillAsync("host-1"); // at once: a graceful stop would wait on the unreachable table
        }
    }

    private static async Task<LoopbackCluster> StartClusterAsync()
    {
        var cluster = await LoopbackCluster.StartAsync(2, 2, 5, "exo-proc-" + Guid.NewGuid().ToString("N")[..8], null, CancellationToken.None);
        return cluster;
    }

    private static async Task<Child> StartChildAsync(LoopbackCluster cluster, string hostId)
    {
        var ports = LoopbackCluster.FreePorts(2);
        var dll = Path.Combine(AppContext.BaseDirectory, "exo-gpu-cluster.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { dll, "host", "--host-id", hostId, "--silo-port", $"{ports[0]}", "--gateway", $"{ports[1]}", "--primary-port", $"{cluster.PrimaryPort}", "--cluster-id", cluster.ClusterId, "--devices-per-host", "3" })
        {
            info.ArgumentList.Add(arg);
        }

        var child = new Child(Process.Start(info)!);
        var ready = child.ReadyAsync();
        if (await Task.WhenAny(ready, Task.Delay(TimeSpan.FromSeconds(60))) != ready)
        {
            child.Stop();
            throw new TimeoutException("the host process did not start within 60 s: " + child.Errors);
        }

        return child;
    }

    /// <summary>Three devices per lease: only the child (three devices; the others have two) can hold it.</summary>
    private static async Task<(IClusterGpuPool Pool, ClusterLease Lease)> AcquireOnChildAsync(LoopbackCluster cluster, string hostId)
    {
        var pool = cluster.Grains.CreateClusterGpuPool(new ClusterGpuPoolOptions
        {
            LeaseTtl = TimeSpan.FromSeconds(60),
            HolderDeadline = TimeSpan.FromSeconds(50), // far beyond the detection: the departure fires the token
            RenewInterval = TimeSpan.FromMilliseconds(200),
            CallTimeout = TimeSpan.FromSeconds(2),
        });
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((await pool.GetViewAsync()).Hosts.All(h => h.Host.HostId != hostId || h.Devices.Any(d => d.Health != Devices.GpuHealth.Healthy)))
        {
            DateTime.UtcNow.Should().BeBefore(deadline, "the child host reports within 30 s");
            await Task.Delay(50);
        }

        var lease = await pool.AcquireAsync(new ClusterGpuRequest { RequestId = "proc-" + Guid.NewGuid(), MemoryBytes = GiB, DeviceCount = 3, Placement = GangPlacement.StrictPack });
        lease.Parts.Single().Host.HostId.Should().Be(hostId);
        return (pool, lease);
    }

    private static async Task SeenDeadAsync(LoopbackCluster cluster, string hostId, TimeSpan guard)
    {
        var membership = cluster.PrimaryServices.GetRequiredService<IClusterMembershipService>();
        var deadline = DateTime.UtcNow + guard;
        while (!membership.CurrentSnapshot.Members.Values.Any(m => m.Name == hostId && m.Status == SiloStatus.Dead))
        {
            DateTime.UtcNow.Should().BeBefore(deadline, $"{hostId} is declared dead within {guard}");
            await Task.Delay(20);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>A child host process and what it wrote.</summary>
    private sealed class Child : IDisposable
    {
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly System.Text.StringBuilder _errors = new();

        public Child(Process process)
        {
            Process = process;
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data?.StartsWith("ready", StringComparison.Ordinal) == true)
                {
                    _ready.TrySetResult();
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                lock (_errors)
                {
                    _errors.AppendLine(e.Data);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        public string Errors
        {
            get
            {
                lock (_errors)
                {
                    return _errors.ToString();
                }
            }
        }

        public Task ReadyAsync() => _ready.Task;

        public void Stop()
        {
            try
            {
                if (!Process.HasExited)
                {
                    Kill(Process.Id, SigCont);
                    Process.Kill(entireProcessTree: true);
                    Process.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }

        public void Dispose()
        {
            Stop();
            Process.Dispose();
        }
    }
}

/// <summary>The process tests run one at a time (their timing would suffer from each other).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessTestGroup
{
    public const string Name = "processes";
}
