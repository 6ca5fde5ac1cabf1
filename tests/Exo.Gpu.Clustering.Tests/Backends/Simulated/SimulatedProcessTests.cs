using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Simulated;

/// <summary>The simulated cluster's processes: a background process following the load, and one per workload (job).</summary>
public class SimulatedProcessTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static SimulatedGpuBackend Backend(FakeTimeProvider time, string faults = "") =>
        new(SimulatedClusterProfile.Homogeneous(4), faults.Length == 0 ? SimulatedFaultPlan.None : SimulatedFaultPlan.Parse(faults), 3, time);

    [Fact]
    public async Task GetProcessesAsync_Workload_ListsTheJobWithItsMemoryUnderTheMemoryInUse()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Backend(time);
        var device = backend.AllDevices[2];
        backend.SetWorkload(2, 30, 12L << 30);

        var processes = await backend.GetProcessesAsync(device, CancellationToken.None);
        var sample = await backend.SampleAsync(device, CancellationToken.None);

        processes.Should().NotBeNull();
        var job = processes!.Should().ContainSingle(p => p.Name == "exo-sim-job").Subject;
        job.ProcessId.Should().Be(SimulatedGpuBackend.FirstSimulatedPid + 33);
        job.UsedMemoryBytes.Should().Be(12L << 30);
        job.User.Should().Be("sim");
        job.Kind.Should().Be(GpuProcessKind.Compute);
        processes.Sum(p => p.UsedMemoryBytes ?? 0).Should().BeLessThanOrEqualTo(sample.MemoryUsedBytes!.Value);
        processes.Select(p => p.ProcessId).Should().BeInAscendingOrder();
    }

    [Fact]
    public async Task GetProcessesAsync_NoWorkload_NoJobProcess()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Backend(time);

        var processes = await backend.GetProcessesAsync(backend.AllDevices[0], CancellationToken.None);

        processes.Should().NotBeNull().And.NotContain(p => p.Name == "exo-sim-job");
        processes!.Should().ContainSingle().Which.Should().Be(
            new GpuProcess(SimulatedGpuBackend.FirstSimulatedPid, GpuProcessKind.Compute, processes[0].UsedMemoryBytes) { Name = "python3", User = "sim" });
        processes[0].UsedMemoryBytes.Should().BeGreaterThan(0).And.Subject!.Value.Should().Be(processes[0].UsedMemoryBytes!.Value & ~((1L << 20) - 1), "whole MiB");
    }

    [Fact]
    public async Task GetProcessesAsync_SameSeedAndClock_SameList()
    {
        var time = new FakeTimeProvider(Start);
        await using var first = Backend(time);
        await using var second = Backend(time);
        time.Advance(TimeSpan.FromSeconds(90));

        for (var i = 0; i < 4; i++)
        {
            var a = await first.GetProcessesAsync(first.AllDevices[i], CancellationToken.None);
            var b = await second.GetProcessesAsync(second.AllDevices[i], CancellationToken.None);
            a.Should().Equal(b!);
        }
    }

    [Fact]
    public async Task GetProcessesAsync_LostOrThrowingDevice_ThrowsLikeSampling()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Backend(time, "lost:1@0s,throw:2@0s");

        var lost = () => backend.GetProcessesAsync(backend.AllDevices[1], CancellationToken.None).AsTask();
        var failing = () => backend.GetProcessesAsync(backend.AllDevices[2], CancellationToken.None).AsTask();

        await lost.Should().ThrowAsync<GpuDeviceLostException>();
        await failing.Should().ThrowAsync<GpuSamplingException>();
    }

    [Fact]
    public async Task GetProcessesAsync_ForeignDevice_ArgumentException()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = Backend(time);
        var foreign = new GpuDevice("GPU-foreign", 0, "other", 1L << 30, GpuBackendKind.Simulated);

        var act = () => backend.GetProcessesAsync(foreign, CancellationToken.None).AsTask();

        await act.Should().ThrowAsync<ArgumentException>().WithParameterName("device");
    }

    [Fact]
    public async Task DefaultInterfaceMethod_BackendWithoutProcesses_NotAvailable()
    {
        IGpuBackend backend = new NoProcessesBackend();
        var device = new GpuDevice("GPU-x", 0, "x", 1L << 30, GpuBackendKind.Simulated);

        (await backend.GetProcessesAsync(device, CancellationToken.None)).Should().BeNull();
        var act = () => backend.GetProcessesAsync(null!, CancellationToken.None).AsTask();
        await act.Should().ThrowAsync<ArgumentNullException>();
    }

    private sealed class NoProcessesBackend : IGpuBackend
    {
        public GpuBackendKind Kind => GpuBackendKind.Simulated;

        public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
