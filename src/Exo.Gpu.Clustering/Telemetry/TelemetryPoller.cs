using System.Globalization;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// The only reader of the backend in a running cluster: every <see cref="TelemetryOptions.PollInterval"/> it reads
/// every device that is not lost, concurrently, and records the readings into the collector; it also pumps the
/// backend's events (critical Xids, ECC errors, lost devices) into the collector.
/// </summary>
/// <remarks>
/// <para><b>Fault isolation.</b> Each tick starts one reading per device and does not wait for any of them, so one
/// device throwing or hanging never delays the others. A reading is abandoned after
/// <see cref="TelemetryOptions.SampleTimeout"/> (its token is cancelled and it counts as a failure); the device is
/// not read again until that call has actually returned, so a hung driver never piles up calls, and every tick while
/// the abandoned call is still outstanding counts one more failed reading, so a device whose driver hangs (ignoring
/// its token) reaches <see cref="TelemetryOptions.SamplingFailuresUnhealthy"/> and goes Unhealthy, and its leases are
/// revoked, instead of staying Unknown for ever. After the n-th consecutive failure the device is skipped for
/// <see cref="TelemetryOptions.PollInterval"/> × 2^(n−1), at most <see cref="TelemetryOptions.MaxBackoff"/> (on the
/// clock's monotonic time: a wall-clock step neither skips nor repeats a try). <see cref="GpuDeviceLostException"/>
/// marks the device lost; it is not read again until it rejoins the collector.</para>
/// <para><b>Contract with the backend.</b> <see cref="IGpuBackend.SampleAsync"/> is called on the poller's thread and
/// must not block synchronously (the interface requires it to honour its token and return promptly).</para>
/// <para><b>Lifecycle.</b> <see cref="StartAsync"/> starts the loops and returns; it is idempotent while running.
/// <see cref="StopAsync"/> cancels them and waits until they have ended, bounded: no await of the poller's is on
/// backend code alone (each reading waits at most its timeout or the stop; the event pump stops waiting on the
/// backend's stream as soon as it is cancelled, abandoning and logging a stream that ignores its token), and the stop
/// itself waits at most <see cref="StopBound"/> (<see cref="TelemetryOptions.SampleTimeout"/>, on the collector's
/// clock) for the loops, then logs and abandons what is left. It is idempotent, and a stopped poller cannot start
/// again. Stopping is not an error: the poller's own cancellation is never logged as one.
/// <see cref="DisposeAsync"/> stops it.</para>
/// </remarks>
internal sealed class TelemetryPoller : IAsyncDisposable
{
    private readonly IGpuBackend _backend;
    private readonly TelemetryCollector _collector;
    private readonly TimeProvider _time;
    private readonly MonotonicClock _clock;
    private readonly ILogger _logger;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _maxBackoff;

    /// <summary>Guards the lifecycle fields and <see cref="_states"/>' growth.</summary>
    private readonly Lock _gate = new();

    /// <summary>Per-slot poll state; grows when the collector gains devices.</summary>
    private PollState[] _states = [];

    /// <summary>Cancels the loops; set while running.</summary>
    private CancellationTokenSource? _stopping;

    /// <summary>The loops; completed when not running.</summary>
    private Task _running = Task.CompletedTask;

    /// <summary>0 new, 1 running, 2 stopped.</summary>
    private int _lifecycle;

    /// <summary>Creates a poller of <paramref name="backend"/> into <paramref name="collector"/>, with the collector's settings, clock and logger factory.</summary>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    public TelemetryPoller(IGpuBackend backend, TelemetryCollector collector)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(collector);
        _backend = backend;
        _collector = collector;
        _time = collector.Time;
        _clock = collector.Clock;
        _logger = collector.LoggerFactory?.CreateLogger<TelemetryPoller>() ?? NullLogger<TelemetryPoller>.Instance;
        _interval = collector.Settings.PollInterval;
        _timeout = collector.Settings.SampleTimeout;
        _maxBackoff = collector.Settings.MaxBackoff;
    }

    /// <summary>
    /// Called after each attempt to read a device is over: its outcome is recorded and the backend's call has returned,
    /// so the device is free for the next attempt (tests observe the cadence with it). Must be fast and must not throw.
    /// </summary>
    public Action<PollOutcome>? AttemptCompleted { get; set; }

    /// <summary>Whether the loops are running.</summary>
    public bool IsRunning => Volatile.Read(ref _lifecycle) == 1;

    /// <summary>
    /// The longest <see cref="StopAsync"/> waits for the loops after cancelling them: <see cref="TelemetryOptions.SampleTimeout"/>,
    /// the time a backend call is already granted. The loops end at once unless something ignored its cancellation.
    /// </summary>
    public TimeSpan StopBound => _timeout;

    /// <summary>Starts polling (the first tick at once) and pumping events; returns at once. Idempotent while running.</summary>
    /// <param name="cancellationToken">Cancels the start (it has nothing to wait for).</param>
    /// <param name="sampleDevices">Whether the timed loop reads the devices; when <see langword="false"/> only the
    /// backend's events are pumped, and readings come from <see cref="PollOnceAsync"/> (a manager without its poller).</param>
    /// <exception cref="InvalidOperationException">The poller was stopped.</exception>
    /// <exception cref="OperationCanceledException">The token had fired.</exception>
    public Task StartAsync(CancellationToken cancellationToken, bool sampleDevices = true)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            switch (_lifecycle)
            {
                case 1:
                    return Task.CompletedTask;
                case 2:
                    throw new InvalidOperationException("The telemetry poller was stopped; create a new one.");
            }

            _stopping = new CancellationTokenSource();
            var token = _stopping.Token;

            var events = Task.Run(() => PumpEventsAsync(token), CancellationToken.None);
            if (sampleDevices)
            {
                // Made here, not on the loop's thread: the ticks fall at start + k × interval on the clock whenever the
                // loop first runs, so a fake or virtual clock advanced right after the start still sees them at those times.
                var timer = new PeriodicTimer(_interval, _time);
                _running = Task.WhenAll(Task.Run(() => RunAsync(timer, token), CancellationToken.None), events);
            }
            else
            {
                _running = events;
            }

            _lifecycle = 1;
        }

        TelemetryLog.PollerStarted(_logger, _interval, _timeout);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops polling and waits for the loops to end, at most <see cref="StopBound"/> on the collector's clock (then
    /// what is left is logged and abandoned). Idempotent; safe before <see cref="StartAsync"/>.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the loops still stop).</param>
    /// <exception cref="OperationCanceledException">The token fired before the loops ended.</exception>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task running;
        lock (_gate)
        {
            if (_lifecycle == 1)
            {
                _stopping!.Cancel();
            }

            _lifecycle = 2;
            running = _running;
        }

        var ended = true;
        if (!running.IsCompleted)
        {
            try
            {
                await running.WaitAsync(_timeout, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                ended = false;
                TelemetryLog.PollerStopTimedOut(_logger, _timeout);
            }
        }

        lock (_gate)
        {
            if (_stopping is { } cts)
            {
                _stopping = null;

                // A loop still running may yet read the token: an abandoned one keeps its (cancelled) source.
                if (ended)
                {
                    cts.Dispose();
                }

                TelemetryLog.PollerStopped(_logger);
            }
        }
    }

    /// <summary>Stops the poller (<see cref="StopAsync"/>). Idempotent.</summary>
    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    /// <summary>
    /// Reads every device due now once and waits for those readings (each bounded by the sample timeout); the timed
    /// loop does the same without waiting. For one-shot callers (<c>exo-gpu watch</c>), tests and benchmarks.
    /// </summary>
    /// <param name="cancellationToken">Cancels the readings.</param>
    public Task PollOnceAsync(CancellationToken cancellationToken)
    {
        var started = LaunchTick(cancellationToken);
        return started.Count == 0 ? Task.CompletedTask : Task.WhenAll(started);
    }

    /// <summary>
    /// Pumps <see cref="IGpuBackend.WatchEventsAsync"/> into the collector until the token fires or the stream ends;
    /// a failing stream is logged and watched again after a back-off. When the token fires the pump returns at once,
    /// even if the stream ignores it: the stream's pending call is abandoned (its outcome observed) and logged.
    /// </summary>
    /// <param name="cancellationToken">Ends the pump.</param>
    public async Task PumpEventsAsync(CancellationToken cancellationToken)
    {
        var delay = _interval;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (!await PumpStreamAsync(cancellationToken).ConfigureAwait(false))
                {
                    TelemetryLog.EventStreamAbandoned(_logger);
                    return;
                }

                TelemetryLog.EventStreamEnded(_logger);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return; // the backend is gone; the owner is shutting down
            }
#pragma warning disable CA1031 // The pump survives any failure of the stream: it logs and watches again.
            catch (Exception e)
#pragma warning restore CA1031
            {
                TelemetryLog.EventStreamFailed(_logger, e, delay);
            }

            try
            {
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _maxBackoff.Ticks));
        }
    }

    /// <summary>Forgets a backend call that ignored its cancellation, observing its failure if it ever fails.</summary>
    private static void Abandon(Task call) =>
        _ = call.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>Applies one watch of the event stream until it ends.</summary>
    /// <returns><see langword="false"/> when the token fired while the stream ignored it (the stream is abandoned, not disposed).</returns>
    private async Task<bool> PumpStreamAsync(CancellationToken cancellationToken)
    {
        var events = _backend.WatchEventsAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        var abandoned = false;
        try
        {
            while (true)
            {
                var next = events.MoveNextAsync();
                bool more;
                if (next.IsCompleted)
                {
                    more = next.GetAwaiter().GetResult();
                }
                else
                {
                    var call = next.AsTask();
                    try
                    {
                        more = await call.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !call.IsCompleted)
                    {
                        abandoned = true;
                        Abandon(call);
                        return false;
                    }
                }

                if (!more)
                {
                    return true;
                }

                _collector.ApplyEvent(events.Current);
            }
        }
        finally
        {
            if (!abandoned)
            {
                await DisposeBoundedAsync(events, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Disposes the stream, waiting at most until <paramref name="cancellationToken"/> fires (then abandons it).</summary>
    private static async ValueTask DisposeBoundedAsync(IAsyncEnumerator<GpuDeviceEvent> events, CancellationToken cancellationToken)
    {
        var disposing = events.DisposeAsync();
        if (disposing.IsCompleted)
        {
            disposing.GetAwaiter().GetResult();
            return;
        }

        var call = disposing.AsTask();
        try
        {
            await call.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !call.IsCompleted)
        {
            Abandon(call);
        }
    }

    private async Task RunAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        using var owned = timer;
        try
        {
            do
            {
                LaunchTick(cancellationToken);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: not an error.
        }

        // Wait for the readings in flight; each ends promptly now that the token fired (or at its timeout).
        Task[] inFlight;
        lock (_gate)
        {
            inFlight = [.. _states.Where(s => s is not null).Select(s => s.Attempt)];
        }

        await Task.WhenAll(inFlight).ConfigureAwait(false);
    }

    /// <summary>Starts one reading per device that is due, not lost and not still in flight; never throws.</summary>
    private List<Task> LaunchTick(CancellationToken cancellationToken)
    {
        var started = new List<Task>();
        try
        {
            var now = _time.GetUtcNow();
            var monotonicNow = _clock.Now();
            var slots = _collector.Slots;
            PollState[] states;
            lock (_gate)
            {
                if (_states.Length < slots.Count)
                {
                    var grown = new PollState[slots.Count];
                    _states.CopyTo(grown, 0);
                    for (var i = _states.Length; i < grown.Length; i++)
                    {
                        grown[i] = new PollState();
                    }

                    _states = grown;
                }

                states = _states;
            }

            for (var i = 0; i < slots.Count; i++)
            {
                var slot = slots[i];
                var state = states[i];
                if (slot.IsLost)
                {
                    continue;
                }

                if (!state.TryBegin(slot.Generation, monotonicNow, out var outstanding))
                {
                    if (outstanding)
                    {
                        CountOutstanding(i, slot.Device, state, monotonicNow);
                    }

                    continue;
                }

                var attempt = PollDeviceAsync(i, slot.Device, state, now, monotonicNow, cancellationToken);
                state.Attempt = attempt;
                started.Add(attempt);
            }
        }
#pragma warning disable CA1031 // A tick must never stop the loop.
        catch (Exception e)
#pragma warning restore CA1031
        {
            TelemetryLog.TickFailed(_logger, e);
        }

        return started;
    }

    /// <summary>Counts one more failed reading for a device whose abandoned call is still outstanding at this tick.</summary>
    private void CountOutstanding(int slot, GpuDevice device, PollState state, long now)
    {
        var elapsed = TimeSpan.FromTicks(Math.Max(0, now - state.StartedAt));
        var counted = _collector.RecordFailure(
            slot,
            string.Create(CultureInfo.InvariantCulture, $"no reading: the call abandoned at its {_timeout.TotalMilliseconds:0.###} ms timeout has not returned after {elapsed.TotalSeconds:0.###} s"));
        if (counted && _logger.IsEnabled(LogLevel.Debug))
        {
            var failures = _collector.Slots[slot].ReadSnapshot().ConsecutiveFailures;
            TelemetryLog.SampleStillPending(_logger, device.Uuid, elapsed, failures);
        }
    }

    private async Task PollDeviceAsync(int slot, GpuDevice device, PollState state, DateTimeOffset startedAt, long monotonicStart, CancellationToken stop)
    {
        var probe = await DeviceProbe.ReadAsync(_backend, device, _timeout, _time, stop).ConfigureAwait(false);
        var result = probe.Result;
        var failure = probe.Failure;
        switch (result)
        {
            case PollResult.Sampled:
                try
                {
                    result = _collector.RecordAt(slot, probe.Sample) ? PollResult.Sampled : PollResult.Dropped;
                }
                catch (GpuSampleValidationException e)
                {
                    // Values valid for the device as the probe saw it, not as the collector knows it now (it rejoined
                    // with other facts meanwhile). Never for the reading's stamp: the collector ages readings itself.
                    result = PollResult.Failed;
                    failure = "invalid reading: " + e.Message;
                }

                break;
            case PollResult.Lost:
                _collector.MarkLost(slot, failure!);
                failure = null;
                break;
            case PollResult.Canceled:
                failure = null;
                break;
        }

        if (failure is not null)
        {
            var failures = state.Fail(monotonicStart, _interval, _maxBackoff, out var backoff);
            if (probe.Unexpected)
            {
                TelemetryLog.SampleFailedUnexpectedly(_logger, probe.Error!, device.Uuid, failures, backoff);
            }
            else
            {
                TelemetryLog.SampleFailed(_logger, device.Uuid, failures, backoff, failure);
            }

            _collector.RecordFailure(slot, failure);
        }
        else if (result == PollResult.Sampled)
        {
            state.Succeed();
        }

        // The device may be read again only once the backend's call has actually returned; the attempt is over then.
        var outcome = new PollOutcome(slot, device.Uuid, result, startedAt);
        if (probe.Pending is { IsCompleted: false } pending)
        {
            // Abandoned at its timeout: until it returns, every tick counts one more failure (CountOutstanding).
            state.MarkOutstanding();
            _ = pending.ContinueWith(
                static (_, s) =>
                {
                    var (poller, st, outcome) = ((TelemetryPoller, PollState, PollOutcome))s!;
                    poller.EndAttempt(st, outcome);
                },
                (this, state, outcome),
                CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
        }
        else
        {
            EndAttempt(state, outcome);
        }
    }

    private void EndAttempt(PollState state, PollOutcome outcome)
    {
        state.End();
        AttemptCompleted?.Invoke(outcome);
    }

    /// <summary>One device's poll state: in flight, failures, back-off (times on the monotonic clock, in ticks).</summary>
    private sealed class PollState
    {
        private int _inFlight;
        private int _outstanding;
        private int _generation;
        private int _failures;
        private bool _due = true;
        private long _nextAttempt;
        private long _startedAt;

        /// <summary>The latest attempt (completed when none is in flight).</summary>
        public Task Attempt { get; set; } = Task.CompletedTask;

        /// <summary>When the attempt in flight started (monotonic ticks).</summary>
        public long StartedAt => Volatile.Read(ref _startedAt);

        /// <summary>
        /// Claims the device for an attempt when it is due and not in flight; resets after a rejoin.
        /// <paramref name="outstanding"/> tells, when it is in flight, whether that attempt was abandoned at its timeout
        /// and its call has still not returned.
        /// </summary>
        public bool TryBegin(int generation, long now, out bool outstanding)
        {
            if (Interlocked.CompareExchange(ref _inFlight, 1, 0) != 0)
            {
                outstanding = Volatile.Read(ref _outstanding) != 0;
                return false;
            }

            outstanding = false;
            if (generation != _generation)
            {
                _generation = generation;
                _failures = 0;
                _due = true;
            }

            if (!_due && now < _nextAttempt)
            {
                Volatile.Write(ref _inFlight, 0);
                return false;
            }

            Volatile.Write(ref _startedAt, now);
            return true;
        }

        public void Succeed()
        {
            _failures = 0;
            _due = true;
        }

        /// <summary>Counts a failure and schedules the next attempt: interval × 2^(failures−1), at most the maximum.</summary>
        public int Fail(long startedAt, TimeSpan interval, TimeSpan maxBackoff, out TimeSpan backoff)
        {
            _failures = _failures == int.MaxValue ? int.MaxValue : _failures + 1;
            var shift = Math.Min(_failures - 1, 30);
            var ticks = interval.Ticks > maxBackoff.Ticks >> shift ? maxBackoff.Ticks : interval.Ticks << shift;
            backoff = TimeSpan.FromTicks(Math.Min(ticks, maxBackoff.Ticks));
            _nextAttempt = startedAt + backoff.Ticks;
            _due = false;
            return _failures;
        }

        /// <summary>Marks the attempt in flight as abandoned at its timeout, its call still outstanding.</summary>
        public void MarkOutstanding() => Volatile.Write(ref _outstanding, 1);

        /// <summary>Releases the device for the next attempt.</summary>
        public void End()
        {
            Volatile.Write(ref _outstanding, 0);
            Volatile.Write(ref _inFlight, 0);
        }
    }
}
