using Exo.Gpu.Clustering.Cli.Simulation;

namespace Exo.Gpu.Clustering.Tests.Cli.Simulation;

public class VirtualTimeProviderTests
{
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void AdvanceTo_TimersDue_FireInDueOrderThenCreationOrder()
    {
        var time = new VirtualTimeProvider(Start);
        var fired = new List<(string Name, DateTimeOffset At)>();
        using var b = time.CreateTimer(_ => fired.Add(("b", time.GetUtcNow())), null, TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan);
        using var a = time.CreateTimer(_ => fired.Add(("a", time.GetUtcNow())), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using var c = time.CreateTimer(_ => fired.Add(("c", time.GetUtcNow())), null, TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan);

        time.AdvanceTo(Start + TimeSpan.FromSeconds(5));

        fired.Should().Equal(("a", Start.AddSeconds(1)), ("b", Start.AddSeconds(2)), ("c", Start.AddSeconds(2)));
        time.GetUtcNow().Should().Be(Start.AddSeconds(5));
    }

    [Fact]
    public void AdvanceTo_PeriodicTimer_FiresEveryPeriodUntilDisposed()
    {
        var time = new VirtualTimeProvider(Start);
        var count = 0;
        var timer = time.CreateTimer(_ => count++, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        time.AdvanceTo(Start.AddSeconds(3.5));
        count.Should().Be(3);
        timer.Dispose();
        time.AdvanceTo(Start.AddSeconds(10));
        count.Should().Be(3);
    }

    [Fact]
    public async Task AdvanceTo_TaskDelay_CompletesOnlyWhenDue()
    {
        var time = new VirtualTimeProvider(Start);
        var delay = Task.Delay(TimeSpan.FromSeconds(30), time);
        time.AdvanceTo(Start.AddSeconds(29));
        delay.IsCompleted.Should().BeFalse();
        time.AdvanceTo(Start.AddSeconds(30));
        await delay.WaitAsync(TimeSpan.FromSeconds(10));
        time.GetTimestamp().Should().Be(TimeSpan.FromSeconds(30).Ticks);
    }

    [Fact]
    public void AdvanceTo_Backwards_KeepsTheClock()
    {
        var time = new VirtualTimeProvider(Start);
        time.AdvanceTo(Start.AddSeconds(5));
        time.AdvanceTo(Start.AddSeconds(1));
        time.GetUtcNow().Should().Be(Start.AddSeconds(5));
    }
}
