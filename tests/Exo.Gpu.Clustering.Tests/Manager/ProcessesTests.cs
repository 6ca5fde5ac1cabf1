using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary><see cref="GpuClusteringManager.GetProcessesAsync"/>: routed to the owning backend, bounded, validated.</summary>
public class ProcessesTests
{
    [Fact]
    public async Task GetProcessesAsync_SimulatedJob_ListedThroughTheManager()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, backend) = await StartSimulatedAsync(time, devices: 2);
        await using var stop = Stop(manager, time);
        backend.SetWorkload(1, 20, 6 * GiB);
        var uuid = manager.GetStatuses()[1].Device.Uuid;

        var processes = await manager.GetProcessesAsync(uuid).WaitAsync(Guard);

        processes.Should().Contain(p => p.Name == "exo-sim-job" && p.UsedMemoryBytes == 6 * GiB);
        processes.Should().Equal(await backend.GetProcessesAsync(backend.AllDevices[1], CancellationToken.None));
    }

    [Fact]
    public async Task GetProcessesAsync_UnknownOrNullUuid_ArgumentExceptions()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time, devices: 1);
        await using var stop = Stop(manager, time);

        await manager.Invoking(m => m.GetProcessesAsync("GPU-nope")).Should().ThrowAsync<ArgumentException>();
        await manager.Invoking(m => m.GetProcessesAsync(null!)).Should().ThrowAsync<ArgumentNullException>().WithParameterName("uuid");
    }

    [Fact]
    public async Task GetProcessesAsync_BackendIgnoresItsToken_TimeoutAfterTheSampleTimeout()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new HangingProcessesBackend(time);
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var stop = Stop(manager, time);

        var call = manager.GetProcessesAsync(backend.Device.Uuid);
        await backend.Entered.Task.WaitAsync(Guard);
        call.IsCompleted.Should().BeFalse("the backend has not answered");
        time.Advance(SampleTimeout);

        var thrown = await call.Awaiting(c => c).Should().ThrowAsync<TimeoutException>();
        thrown.Which.Message.Should().Contain("no process list within 250 ms");
        backend.TokenFired.Should().BeTrue("the abandoned call's token is cancelled");
    }

    [Fact]
    public async Task GetProcessesAsync_NotStarted_InvalidOperation()
    {
        var time = new FakeTimeProvider(Start);
        await using var manager = Options(time, null, Simulated(time)).Create();

        await manager.Invoking(m => m.GetProcessesAsync("GPU-x")).Should().ThrowAsync<InvalidOperationException>();
    }

    /// <summary>One healthy device whose process list never returns and ignores its token.</summary>
    private sealed class HangingProcessesBackend(FakeTimeProvider time) : IGpuBackend
    {
        private CancellationToken _token;

        public GpuDevice Device { get; } = new("GPU-hang-0", 0, "Fake GPU", 80 * GiB, GpuBackendKind.Simulated);

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool TokenFired => _token.IsCancellationRequested;

        public GpuBackendKind Kind => GpuBackendKind.Simulated;

        public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken) => new([Device]);

        public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken) => new(Sample(time.GetUtcNow()));

        public ValueTask<IReadOnlyList<GpuProcess>?> GetProcessesAsync(GpuDevice device, CancellationToken cancellationToken)
        {
            _token = cancellationToken;
            Entered.TrySetResult();
            return new(new TaskCompletionSource<IReadOnlyList<GpuProcess>?>().Task);
        }

        public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
