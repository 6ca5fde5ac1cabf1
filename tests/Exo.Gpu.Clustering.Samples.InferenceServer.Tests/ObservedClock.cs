using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Samples.InferenceServer.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that also tells when timers of a given due time have been created: a run's
/// <c>Task.Delay(ms, time)</c> and a lease deadline each create one, so a test can move the clock once they exist
/// instead of racing them (a timer created after an advance would be due an advance later).
/// </summary>
internal sealed class ObservedClock(FakeTimeProvider inner) : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly Dictionary<TimeSpan, int> _created = [];
    private readonly List<(TimeSpan Due, int Count, TaskCompletionSource Signal)> _waiters = [];

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    public override long GetTimestamp() => inner.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow();

    public void Advance(TimeSpan by) => inner.Advance(by);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = inner.CreateTimer(callback, state, dueTime, period);
        lock (_gate)
        {
            _created[dueTime] = _created.GetValueOrDefault(dueTime) + 1;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Due == dueTime && _created[dueTime] >= _waiters[i].Count)
                {
                    _waiters[i].Signal.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }

        return timer;
    }

    /// <summary>Completes once <paramref name="count"/> timers due after <paramref name="due"/> have been created (since the start).</summary>
    public Task WhenCreatedAsync(TimeSpan due, int count)
    {
        lock (_gate)
        {
            if (_created.GetValueOrDefault(due) >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((due, count, signal));
            return signal.Task.WaitAsync(ServerUnderTest.Guard);
        }
    }
}
