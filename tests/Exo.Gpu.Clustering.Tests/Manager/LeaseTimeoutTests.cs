using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary><see cref="GpuClusteringManager.AcquireAsync(GpuRequest, TimeSpan, CancellationToken)"/> on the manager's clock.</summary>
public class LeaseTimeoutTests
{
    private static readonly GpuRequest OneGiB = new() { MemoryBytes = GiB };

    [Fact]
    public async Task AcquireAsync_Timeout_NoSlotFreesInTime_ThrowsGpuLeaseTimeoutExceptionOnTheManagersClock()
    {
        var time = new FakeTimeProvider(Start);
        var (manager, _) = await StartSimulatedAsync(time, devices: 2, configure: o => o.Selector.MaxLeasesPerDevice = 1);
        await using var stop = Stop(manager, time);
        var held = await Task.WhenAll(manager.AcquireAsync(OneGiB).AsTask(), manager.AcquireAsync(OneGiB).AsTask());

        var waiting = manager.AcquireAsync(OneGiB, TimeSpan.FromMilliseconds(250), CancellationToken.None).AsTask();
        manager.GetLeaseSnapshot().Waiters.Should().Be(1);
        time.Advance(TimeSpan.FromMilliseconds(249));
        waiting.IsCompleted.Should().BeFalse();
        time.Advance(TimeSpan.FromMilliseconds(1));

        var e = (await waiting.Invoking(t => t).Should().ThrowAsync<GpuLeaseTimeoutException>()).Which;
        e.QueuePosition.Should().Be(1);
        e.Timeout.Should().Be(TimeSpan.FromMilliseconds(250));
        e.Explanation!.Devices.Should().HaveCount(2).And.OnlyContain(d => !d.Eligible && d.ActiveLeases == 1);
        e.Message.Should().Contain("1st of 1 in the queue; nearest: ");
        manager.GetLeaseSnapshot().Waiters.Should().Be(0, "the request left the queue");

        foreach (var lease in held)
        {
            await lease.DisposeAsync();
        }

        (await manager.AcquireAsync(OneGiB, TimeSpan.FromMilliseconds(250), CancellationToken.None)).IsHeld.Should().BeTrue("a freed slot is taken at once");
    }

    [Fact]
    public async Task AcquireAsync_Timeout_NotStarted_ThrowsInvalidOperation()
    {
        var time = new FakeTimeProvider(Start);
        var manager = Options(time, null, Simulated(time)).Create();
        await using var stop = Stop(manager, time);
        await manager.Invoking(m => m.AcquireAsync(OneGiB, TimeSpan.FromSeconds(1), CancellationToken.None).AsTask()).Should().ThrowAsync<InvalidOperationException>();
    }
}
