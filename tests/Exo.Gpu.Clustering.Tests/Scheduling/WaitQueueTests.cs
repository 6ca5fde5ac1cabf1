using Exo.Gpu.Clustering.Scheduling;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public sealed class WaitQueueTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly SchedulingMetrics _metrics = new(meter: null, table: static () => null, ledger: null!); // no table: the per-device instruments read nothing
    private readonly DeviceSelector _owner = Selectors.Create(FakeDeviceStateSource.Uniform(1));
    private int _rechecks;

    public void Dispose() => _metrics.Dispose();

    [Fact]
    public void Enqueue_SeveralWaiters_KeepsFifoOrder()
    {
        using var queue = NewQueue(Timeout.InfiniteTimeSpan);
        var waiters = Waiters(5);
        foreach (var w in waiters)
        {
            queue.Enqueue(w);
        }

        Order(queue).Should().Equal(waiters);
        ReferenceEquals(queue.Head, waiters[0]).Should().BeTrue();
        queue.Count.Should().Be(5);
        queue.IsEmpty.Should().BeFalse();
        waiters.Should().OnlyContain(w => w.Queued);
        queue.FindViolation().Should().BeNull();
    }

    [Fact]
    public void Remove_MiddleHeadAndTail_UnlinksOnlyThoseAndKeepsTheRestInOrder()
    {
        using var queue = NewQueue(Timeout.InfiniteTimeSpan);
        var w = Waiters(5);
        foreach (var waiter in w)
        {
            queue.Enqueue(waiter);
        }

        queue.Remove(w[2]);
        Order(queue).Should().Equal(w[0], w[1], w[3], w[4]);
        queue.Remove(w[0]);
        Order(queue).Should().Equal(w[1], w[3], w[4]);
        queue.Remove(w[4]);
        Order(queue).Should().Equal(w[1], w[3]);
        queue.Count.Should().Be(2);
        queue.FindViolation().Should().BeNull();
        foreach (var removed in new[] { w[0], w[2], w[4] })
        {
            (removed.Queued, removed.Previous, removed.Next).Should().Be((false, null, null));
        }

        queue.Remove(w[1]);
        queue.Remove(w[3]);
        queue.IsEmpty.Should().BeTrue();
        (queue.Head is null).Should().BeTrue();
        queue.FindViolation().Should().BeNull();

        queue.Enqueue(w[2]);
        Order(queue).Should().Equal(w[2]);
    }

    [Fact]
    public void RemoveAll_Waiters_EmptiesTheQueueAndReturnsTheChainInOrder()
    {
        using var queue = NewQueue(TimeSpan.FromSeconds(1));
        var waiters = Waiters(3);
        foreach (var w in waiters)
        {
            queue.Enqueue(w);
        }

        var head = queue.RemoveAll(out var count);
        count.Should().Be(3);
        queue.IsEmpty.Should().BeTrue();
        queue.Count.Should().Be(0);
        var chain = new List<LeaseWaiter>();
        for (var w = head; w is not null; w = w.Next)
        {
            chain.Add(w);
        }

        chain.Should().Equal(waiters);
        chain.Should().OnlyContain(w => !w.Queued);
        queue.FindViolation().Should().BeNull();
        _time.Advance(TimeSpan.FromSeconds(5));
        _rechecks.Should().Be(0, "emptying the queue disarms the timer");
    }

    [Fact]
    public void Enqueue_FirstWaiter_ArmsTheRecheckTimerUntilTheQueueEmpties()
    {
        using var queue = NewQueue(TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(3));
        _rechecks.Should().Be(0, "nothing waits");

        var w = Waiters(2);
        queue.Enqueue(w[0]);
        queue.Enqueue(w[1]);
        _time.Advance(TimeSpan.FromSeconds(1));
        _rechecks.Should().Be(1);
        _time.Advance(TimeSpan.FromSeconds(1));
        _rechecks.Should().Be(2);

        queue.Remove(w[0]);
        _time.Advance(TimeSpan.FromSeconds(1));
        _rechecks.Should().Be(3, "one still waits");
        queue.Remove(w[1]);
        _time.Advance(TimeSpan.FromSeconds(5));
        _rechecks.Should().Be(3);
        queue.FindViolation().Should().BeNull();
    }

    [Fact]
    public void Enqueue_RecheckTurnedOff_NeverFires()
    {
        using var queue = NewQueue(Timeout.InfiniteTimeSpan);
        queue.Enqueue(Waiters(1)[0]);
        _time.Advance(TimeSpan.FromHours(1));
        _rechecks.Should().Be(0);
        queue.FindViolation().Should().BeNull();
    }

    [Fact]
    public void FindViolation_NodeUnmarked_SaysSo()
    {
        using var queue = NewQueue(Timeout.InfiniteTimeSpan);
        var w = Waiters(2);
        queue.Enqueue(w[0]);
        queue.Enqueue(w[1]);
        w[1].Queued = false;
        queue.FindViolation().Should().Be("node 1 is not marked queued or its links do not run both ways.");
    }

    [Fact]
    public void FindViolation_LinkBroken_SaysSo()
    {
        using var queue = NewQueue(Timeout.InfiniteTimeSpan);
        var w = Waiters(3);
        foreach (var waiter in w)
        {
            queue.Enqueue(waiter);
        }

        w[0].Next = w[2];
        queue.FindViolation().Should().Be("node 1 is not marked queued or its links do not run both ways.");
    }

#if DEBUG
    [Fact]
    public void AssertInvariants_CountCorruptedByARemoval_ThrowsInvalidOperationException()
    {
        using var queue = NewQueue(Timeout.InfiniteTimeSpan);
        var w = Waiters(2);
        queue.Enqueue(w[0]);
        queue.Enqueue(w[1]);
        w[0].Next = null;   // the list now ends early
        queue.Invoking(q => q.AssertInvariants()).Should().Throw<InvalidOperationException>()
            .WithMessage("Wait queue invariant violated: *");
    }
#endif

    [Fact]
    public async Task Selector_CancelledMiddleWaiter_LeavesTheQueueAndTheOthersAreServedInOrder()
    {
        var selector = Selectors.Create(FakeDeviceStateSource.Uniform(1));
        selector.TryAcquire(new GpuRequest { MemoryBytes = 79 * FakeDeviceStateSource.GiB }, out var blocker).Should().BeTrue();
        using var cancel = new CancellationTokenSource();
        var first = selector.AcquireAsync(new GpuRequest { MemoryBytes = 30 * FakeDeviceStateSource.GiB }).AsTask();
        var middle = selector.AcquireAsync(new GpuRequest { MemoryBytes = 30 * FakeDeviceStateSource.GiB }, cancel.Token).AsTask();
        var last = selector.AcquireAsync(new GpuRequest { MemoryBytes = 40 * FakeDeviceStateSource.GiB }).AsTask();
        selector.GetSnapshot().Waiters.Should().Be(3);

        await cancel.CancelAsync();
        middle.IsCanceled.Should().BeTrue();
        selector.GetSnapshot().Waiters.Should().Be(2);
        selector.FindInvariantViolation().Should().BeNull();

        await blocker.DisposeAsync();
        var leases = await Task.WhenAll(first, last).WaitAsync(Selectors.Guard);
        leases.Select(l => l.MemoryBytes).Should().Equal(30 * FakeDeviceStateSource.GiB, 40 * FakeDeviceStateSource.GiB);
        selector.GetSnapshot().Waiters.Should().Be(0);
    }

    private WaitQueue NewQueue(TimeSpan interval) => new(_time, interval, () => Interlocked.Increment(ref _rechecks), _metrics);

    private LeaseWaiter[] Waiters(int count) =>
        [.. Enumerable.Range(0, count).Select(i => new LeaseWaiter(_owner, new GpuRequest { MemoryBytes = i }, i))];

    private static List<LeaseWaiter> Order(WaitQueue queue)
    {
        var order = new List<LeaseWaiter>();
        for (var w = queue.Head; w is not null; w = w.Next)
        {
            order.Add(w);
        }

        return order;
    }
}
