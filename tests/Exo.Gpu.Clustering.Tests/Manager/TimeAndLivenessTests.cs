using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Exo.Gpu.Clustering.Tests.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Manager.ManagerTestKit;

namespace Exo.Gpu.Clustering.Tests.Manager;

/// <summary>The whole manager against a stepped wall clock and a hung driver: leases follow health, health follows the monotonic clock.</summary>
public class TimeAndLivenessTests
{
    [Fact]
    public async Task WallClockSteppedBackAMinuteThenForwardAnHour_NoHealthChange_LeaseKept()
    {
        var time = new SteppingTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2); // stamps its readings with the (stepped) wall clock
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        var events = new ManagerEvents(manager);
        var device = backend.AllDevices[1];
        manager.TryAcquire(new GpuRequest { MemoryBytes = 10 * GiB, IncludeUuids = [device.Uuid] }, out var lease).Should().BeTrue();

        for (var second = 1; second <= 12; second++)
        {
            if (second == 4)
            {
                time.StepWallClock(TimeSpan.FromMinutes(-1));
            }
            else if (second == 8)
            {
                time.StepWallClock(TimeSpan.FromHours(1));
            }

            time.Advance(PollInterval);
            await manager.RefreshTelemetryAsync().WaitAsync(Guard);
            manager.GetStatuses().Should().OnlyContain(s => s.Health == GpuHealth.Healthy && s.IsFresh && s.ConsecutiveFailures == 0, "second {0}", second);
        }

        lease.Token.IsCancellationRequested.Should().BeFalse();
        manager.GetLeaseSnapshot().Revoked.Should().Be(0);
        events.Drain().OfType<GpuHealthChange>().Should().BeEmpty("no health changed after the start");
        manager.Telemetry.GetHistory(device.Uuid).Select(s => s.Timestamp).Should().HaveCount(13).And.Contain(Start.AddSeconds(4).AddMinutes(-1));
        await lease.DisposeAsync();
        manager.GetLeaseSnapshot().Released.Should().Be(1);
    }

    [Fact]
    public async Task SampleHangsIgnoringToken_DeviceUnhealthyAfterThresholdOfTicks_LeaseRevoked()
    {
        var time = new FakeTimeProvider(Start);
        var backend = new FakeGpuBackend(time, 2);
        var manager = await Options(time, null, backend).StartAsync().WaitAsync(Guard);
        await using var _ = Stop(manager, time);
        var device = backend.AllDevices[1];
        manager.TryAcquire(new GpuRequest { MemoryBytes = 10 * GiB, IncludeUuids = [device.Uuid] }, out var lease).Should().BeTrue();
        var hung = 0;
        backend.OnSample = (d, ct) =>
        {
            if (d.Equals(device))
            {
                Interlocked.Increment(ref hung);
                return FakeGpuBackend.HangIgnoringToken(d, ct);
            }

            return new ValueTask<GpuSample>(backend.HealthySample());
        };

        // Tick 1: the read hangs and is abandoned at its timeout (failure 1).
        time.Advance(PollInterval);
        var refresh = manager.RefreshTelemetryAsync();
        time.Advance(SampleTimeout);
        await refresh.WaitAsync(Guard);
        manager.GetStatus(device.Uuid).ConsecutiveFailures.Should().Be(1);

        // Ticks 2 to 4: the call is still outstanding at each, and each counts (the default threshold is 4).
        for (var failures = 2; failures <= TelemetryOptions.DefaultSamplingFailuresUnhealthy; failures++)
        {
            lease.Token.IsCancellationRequested.Should().BeFalse("{0} failures are below the threshold", failures - 1);
            time.Advance(PollInterval - SampleTimeout);
            await manager.RefreshTelemetryAsync().WaitAsync(Guard);
            manager.GetStatus(device.Uuid).ConsecutiveFailures.Should().Be(failures);
            time.Advance(SampleTimeout);
        }

        manager.GetStatus(device.Uuid).Health.Should().Be(GpuHealth.Unhealthy);
        await WhenCanceled(lease.Token).WaitAsync(Guard);
        manager.GetLeaseSnapshot().Revoked.Should().Be(1);
        Volatile.Read(ref hung).Should().Be(1, "the hung device was never called again");
        manager.GetStatus(backend.AllDevices[0].Uuid).Health.Should().Be(GpuHealth.Healthy);
        await lease.DisposeAsync();
    }
}
