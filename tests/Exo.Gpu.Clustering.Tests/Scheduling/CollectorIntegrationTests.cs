using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

/// <summary>The selector over the real telemetry collector, fed by the simulated backend through the poller.</summary>
public class CollectorIntegrationTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Revocation_SimulatedBackendLosesADevice_FiresTheLeasesToken()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = new SimulatedGpuBackend(new SimulatedGpuBackendOptions
        {
            Seed = 1,
            Faults = "lost:3@10s",
        }, time);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        await using var collector = new TelemetryCollector(devices, timeProvider: time);
        await using var poller = new TelemetryPoller(backend, collector);
        await poller.PollOnceAsync(CancellationToken.None);
        await using var selector = new DeviceSelector(collector);

        selector.TryAcquire(new GpuRequest { IncludeIndexes = [3], MemoryBytes = GiB }, out var onLost).Should().BeTrue();
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [4], MemoryBytes = GiB }, out var other).Should().BeTrue();

        time.Advance(TimeSpan.FromSeconds(11));
        await poller.PollOnceAsync(CancellationToken.None);
        await Selectors.WhenCancelled(onLost.Token);

        other.Token.IsCancellationRequested.Should().BeFalse("staleness and other devices' changes revoke nothing");
        var explanation = selector.Explain(new GpuRequest());
        explanation.Devices[3].Health.Should().Be(GpuHealth.Lost);
        explanation.Devices[3].Reasons.Should().Contain("health Lost");
        explanation.Chosen.Single().Index.Should().NotBe(3);

        await onLost.DisposeAsync();
        await other.DisposeAsync();
        var snapshot = selector.GetSnapshot();
        (snapshot.Granted, snapshot.Released, snapshot.Revoked).Should().Be((2, 1, 1));
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0);
    }

    [Fact]
    public async Task Select_OverTheCollector_SeesReadingsAndReservations()
    {
        var time = new FakeTimeProvider(Start);
        await using var backend = new SimulatedGpuBackend(new SimulatedGpuBackendOptions { Seed = 2 }, time);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        await using var collector = new TelemetryCollector(devices, timeProvider: time);
        await using var poller = new TelemetryPoller(backend, collector);
        var selector = new DeviceSelector(collector, new DeviceSelectorOptions { Seed = 1 });
        await using (selector)
        {
            selector.Invoking(s => s.Select(new GpuRequest())).Should().Throw<NoEligibleGpuException>()
                .Which.Message.Should().Contain("no telemetry reading yet");

            await poller.PollOnceAsync(CancellationToken.None);
            var request = new GpuRequest { MemoryBytes = 40 * GiB, Strategy = GpuSelectionStrategy.MostFreeMemory };
            var leases = new List<GpuLease>();
            for (var i = 0; i < devices.Count; i++)
            {
                selector.TryAcquire(request, out var lease).Should().BeTrue();
                leases.Add(lease);
            }

            leases.Select(l => l.Device.Index).Should().OnlyHaveUniqueItems("each 40 GiB reservation leaves too little for a second one");
            selector.TryAcquire(request, out _).Should().BeFalse();
            foreach (var lease in leases)
            {
                await lease.DisposeAsync();
            }
        }

        FluentActions.Invoking(() => new DeviceSelector((TelemetryCollector)null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("collector");
    }
}
