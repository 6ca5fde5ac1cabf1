using Exo.Gpu.Clustering.Orleans.Hosts;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Orleans.Tests.Hosts;

/// <summary>How long a host counts itself cut off from the membership table, on a fake clock.</summary>
public sealed class MembershipContactTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    /// <summary>What the next probe does.</summary>
    private Func<CancellationToken, Task> _next = _ => Task.CompletedTask;

    private MembershipContact NewContact() => new(_time, ct => _next(ct), Interval);

    [Fact]
    public async Task CutOff_EveryProbeSucceeds_Zero()
    {
        var contact = NewContact();
        for (var i = 0; i < 10; i++)
        {
            _time.Advance(Interval);
            (await contact.ProbeAsync(CancellationToken.None)).Should().BeTrue();
            contact.CutOff.Should().Be(TimeSpan.Zero);
        }
    }

    [Fact]
    public async Task CutOff_ProbesFail_CountsFromTheFirstFailedProbe()
    {
        var contact = NewContact();
        _time.Advance(Interval);
        _next = _ => Task.FromException(new InvalidOperationException("the table is unreachable"));

        (await contact.ProbeAsync(CancellationToken.None)).Should().BeFalse();
        _time.Advance(Interval);
        (await contact.ProbeAsync(CancellationToken.None)).Should().BeFalse();
        _time.Advance(TimeSpan.FromSeconds(3));

        contact.CutOff.Should().Be(TimeSpan.FromSeconds(8), "cut off since the first failed probe was sent, not since the last one");
    }

    [Fact]
    public async Task ProbeAsync_SucceedsAfterFailures_EndsTheCut()
    {
        var contact = NewContact();
        _next = _ => Task.FromException(new TimeoutException());
        (await contact.ProbeAsync(CancellationToken.None)).Should().BeFalse();
        _time.Advance(TimeSpan.FromSeconds(20));
        contact.CutOff.Should().Be(TimeSpan.FromSeconds(20));

        _next = _ => Task.CompletedTask;
        (await contact.ProbeAsync(CancellationToken.None)).Should().BeTrue();

        contact.CutOff.Should().Be(TimeSpan.Zero);
    }

    [Fact]
    public void CutOff_NoProbeRanForLong_CountsFromWhenTheNextProbeWasDue()
    {
        var contact = NewContact();

        // A frozen process (SIGSTOP, a suspended VM) runs no probe at all; on waking the gap shows at once.
        _time.Advance(Interval + Interval);
        contact.CutOff.Should().Be(TimeSpan.Zero, "within one interval and one probe bound of the last success");
        _time.Advance(TimeSpan.FromSeconds(30));

        contact.CutOff.Should().Be(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ProbeAsync_ProbeHangs_FailsAfterTheIntervalAndCountsFromItsSending()
    {
        var contact = NewContact();
        var hung = new TaskCompletionSource();
        _next = _ => hung.Task;

        var probe = contact.ProbeAsync(CancellationToken.None);
        probe.IsCompleted.Should().BeFalse();
        _time.Advance(Interval);

        (await probe).Should().BeFalse();
        contact.CutOff.Should().Be(Interval);
    }

    [Fact]
    public async Task ProbeAsync_Cancelled_Throws()
    {
        var contact = NewContact();
        _next = ct => Task.Delay(Timeout.InfiniteTimeSpan, _time, ct);
        using var stop = new CancellationTokenSource();

        var probe = contact.ProbeAsync(stop.Token);
        await stop.CancelAsync();

        await probe.Invoking(p => p).Should().ThrowAsync<OperationCanceledException>();
    }
}
