using Exo.Gpu.Clustering.Backends;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

[Collection(FakeGpuTests.Name)]
public class NvmlEventTests
{
    private static readonly FakeGpuLibrary Fake = FakeGpuLibrary.Main;

    [Fact]
    public async Task WatchEventsAsync_XidsAndEcc_CriticalReportedApplicationXidsSkipped()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 4);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        foreach (var xid in new ulong[] { 13, 31, 43, 45, 68, 109 })
        {
            Fake.PushEvent(0, FakeGpuLibrary.XidCriticalError, xid);
        }

        Fake.PushEvent(1, FakeGpuLibrary.XidCriticalError, 79);
        Fake.PushEvent(0, FakeGpuLibrary.XidCriticalError, 13);
        Fake.PushEvent(2, FakeGpuLibrary.DoubleBitEcc, 0);
        Fake.PushEvent(3, FakeGpuLibrary.SingleBitEcc, 0);
        Fake.PushEvent(0, FakeGpuLibrary.XidCriticalError, 48);

        var events = await TakeAsync(backend.WatchEventsAsync(CancellationToken.None), 4);

        events.Should().Equal(
            new GpuDeviceEvent(devices[1].Uuid, GpuDeviceEventKind.CriticalXid, 79, NvmlTestContext.Start),
            new GpuDeviceEvent(devices[2].Uuid, GpuDeviceEventKind.DoubleBitEccError, 0, NvmlTestContext.Start),
            new GpuDeviceEvent(devices[3].Uuid, GpuDeviceEventKind.SingleBitEccError, 0, NvmlTestContext.Start),
            new GpuDeviceEvent(devices[0].Uuid, GpuDeviceEventKind.CriticalXid, 48, NvmlTestContext.Start));
    }

    [Fact]
    public async Task WatchEventsAsync_Timeouts_LoopSurvives()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        for (var i = 0; i < 5; i++)
        {
            Fake.PushWaitResult(FakeGpuLibrary.Timeout);
        }

        Fake.PushEvent(1, FakeGpuLibrary.XidCriticalError, 94);

        var events = await TakeAsync(backend.WatchEventsAsync(CancellationToken.None), 1);

        events.Should().ContainSingle().Which.Should().Be(new GpuDeviceEvent(devices[1].Uuid, GpuDeviceEventKind.CriticalXid, 94, NvmlTestContext.Start));
        Fake.Calls("nvmlEventSetWait_v2").Should().BeGreaterThanOrEqualTo(6);
    }

    [Fact]
    public async Task WatchEventsAsync_EventsArriveWhileWaiting_Delivered()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        await using var events = backend.WatchEventsAsync(CancellationToken.None).GetAsyncEnumerator();
        var next = events.MoveNextAsync().AsTask();
        await NvmlTestContext.EventuallyAsync(() => Fake.Calls("nvmlEventSetWait_v2") >= 2, "the loop waits through real timeouts");

        Fake.PushEvent(0, FakeGpuLibrary.XidCriticalError, 119);

        (await next.WaitAsync(NvmlTestContext.Guard)).Should().BeTrue();
        events.Current.Code.Should().Be(119);
        events.Current.Uuid.Should().Be(devices[0].Uuid);
    }

    [Fact]
    public async Task WatchEventsAsync_WaitSaysGpuLost_ReportsOnlyTheLostDeviceOnce()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 3);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.Inject("nvmlDeviceGetMemoryInfo", 1, FakeGpuLibrary.GpuIsLost);
        Fake.PushWaitResult(FakeGpuLibrary.GpuIsLost);
        Fake.PushWaitResult(FakeGpuLibrary.GpuIsLost);
        Fake.PushEvent(0, FakeGpuLibrary.XidCriticalError, 79);

        var events = await TakeAsync(backend.WatchEventsAsync(CancellationToken.None), 2, time);

        events.Select(e => (e.Uuid, e.Kind)).Should().Equal(
            (devices[1].Uuid, GpuDeviceEventKind.Lost),
            (devices[0].Uuid, GpuDeviceEventKind.CriticalXid));
    }

    [Fact]
    public async Task WatchEventsAsync_GpuLostButNoDeviceSaysWhich_ReportsEveryDevice()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 2);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.PushWaitResult(FakeGpuLibrary.GpuIsLost);

        var events = await TakeAsync(backend.WatchEventsAsync(CancellationToken.None), 2);

        events.Should().OnlyContain(e => e.Kind == GpuDeviceEventKind.Lost);
        events.Select(e => e.Uuid).Should().BeEquivalentTo(devices.Select(d => d.Uuid));
    }

    [Fact]
    public async Task WatchEventsAsync_OtherWaitError_BacksOffAndGoesOn()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 1);
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.PushWaitResult(FakeGpuLibrary.Unknown);
        Fake.PushEvent(0, FakeGpuLibrary.DoubleBitEcc, 0);

        var events = await TakeAsync(backend.WatchEventsAsync(CancellationToken.None), 1, time);

        events.Should().ContainSingle().Which.Kind.Should().Be(GpuDeviceEventKind.DoubleBitEccError);
        time.GetUtcNow().Should().BeOnOrAfter(NvmlTestContext.Start + TimeSpan.FromMilliseconds(20), "the loop backed off one wait timeout on the clock");
    }

    [Fact]
    public async Task WatchEventsAsync_RegistersOnlySupportedTypes()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        Fake.Set(0, "events.supported", (long)FakeGpuLibrary.XidCriticalError); // the fake refuses to register unsupported types
        Fake.Set(1, "events.supported", 0x4); // PState only: nothing to watch
        var devices = await backend.DiscoverAsync(CancellationToken.None);
        Fake.PushEvent(1, FakeGpuLibrary.XidCriticalError, 79); // not registered: never delivered
        Fake.PushEvent(0, FakeGpuLibrary.XidCriticalError, 74);

        var events = await TakeAsync(backend.WatchEventsAsync(CancellationToken.None), 1);

        events.Should().ContainSingle().Which.Should().Match<GpuDeviceEvent>(e => e.Uuid == devices[0].Uuid && e.Code == 74);
    }

    [Fact]
    public async Task WatchEventsAsync_NoDeviceCanBeWatched_CompletesAtOnceAndFreesTheSet()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        await backend.DiscoverAsync(CancellationToken.None);
        Fake.Inject("nvmlDeviceGetSupportedEventTypes", -1, FakeGpuLibrary.NotSupported);
        var sets = Fake.LiveEventSets;

        var events = new List<GpuDeviceEvent>();
        await foreach (var e in backend.WatchEventsAsync(CancellationToken.None))
        {
            events.Add(e);
        }

        events.Should().BeEmpty();
        Fake.LiveEventSets.Should().Be(sets);
        Fake.Calls("nvmlEventSetCreate").Should().Be(Fake.Calls("nvmlEventSetFree"));
    }

    [Fact]
    public async Task WatchEventsAsync_BeforeDiscovery_DiscoversFirst()
    {
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        Fake.PushEvent(1, FakeGpuLibrary.XidCriticalError, 79);

        var events = await TakeAsync(backend.WatchEventsAsync(CancellationToken.None), 1);

        events.Should().ContainSingle().Which.Uuid.Should().Be(FakeGpuLibrary.DefaultUuid(1));
    }

    [Fact]
    public async Task DisposeAsync_WhileWatching_EndsTheStreamAndFreesTheEventSet()
    {
        var sets = Fake.LiveEventSets;
        var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 2);
        var initBefore = Fake.InitCount - 1;
        var events = backend.WatchEventsAsync(CancellationToken.None).GetAsyncEnumerator();
        var next = events.MoveNextAsync().AsTask();
        await NvmlTestContext.EventuallyAsync(() => Fake.LiveEventSets == sets + 1, "the watcher created its event set");

        await backend.DisposeAsync().AsTask().WaitAsync(NvmlTestContext.Guard);

        (await next.WaitAsync(NvmlTestContext.Guard)).Should().BeFalse("disposal ends the stream without an exception");
        await events.DisposeAsync();
        Fake.LiveEventSets.Should().Be(sets);
        Fake.InitCount.Should().Be(initBefore, "nvmlShutdown ran after the watcher stopped");
    }

    [Fact]
    public async Task WatchEventsAsync_TokenFires_ThrowsAndFreesTheEventSet()
    {
        var sets = Fake.LiveEventSets;
        await using var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        using var cts = new CancellationTokenSource();
        var events = backend.WatchEventsAsync(cts.Token).GetAsyncEnumerator(CancellationToken.None);
        var next = events.MoveNextAsync().AsTask();
        await NvmlTestContext.EventuallyAsync(() => Fake.LiveEventSets == sets + 1, "the watcher created its event set");

        await cts.CancelAsync();

        await FluentActions.Awaiting(() => next.WaitAsync(NvmlTestContext.Guard)).Should().ThrowAsync<OperationCanceledException>();
        await events.DisposeAsync();
        Fake.LiveEventSets.Should().Be(sets);
    }

    [Fact]
    public async Task WatchEventsAsync_AfterDispose_Throws()
    {
        var backend = NvmlTestContext.Open(new FakeTimeProvider(NvmlTestContext.Start), devices: 1);
        await backend.DisposeAsync();

        var act = async () =>
        {
            await foreach (var _ in backend.WatchEventsAsync(CancellationToken.None))
            {
            }
        };

        await act.Should().ThrowAsync<ObjectDisposedException>();
    }

    /// <summary>Reads <paramref name="count"/> events, advancing the fake clock (for back-offs) while waiting when one is given.</summary>
    private static async Task<List<GpuDeviceEvent>> TakeAsync(IAsyncEnumerable<GpuDeviceEvent> stream, int count, FakeTimeProvider? time = null)
    {
        var events = new List<GpuDeviceEvent>();
        var enumerator = stream.GetAsyncEnumerator();
        try
        {
            while (events.Count < count)
            {
                var next = enumerator.MoveNextAsync().AsTask();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                while (!next.IsCompleted && time is not null)
                {
                    watch.Elapsed.Should().BeLessThan(NvmlTestContext.Guard, "the loop backs off on the fake clock");
                    time.Advance(TimeSpan.FromMilliseconds(20));
                    await Task.Yield();
                }

                (await next.WaitAsync(NvmlTestContext.Guard)).Should().BeTrue();
                events.Add(enumerator.Current);
            }
        }
        finally
        {
            await enumerator.DisposeAsync();
        }

        return events;
    }
}
