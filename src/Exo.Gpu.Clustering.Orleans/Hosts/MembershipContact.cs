namespace Exo.Gpu.Clustering.Orleans.Hosts;

/// <summary>
/// Whether this host can still reach the membership table, from probes on an interval: how long it has been cut
/// off. The cut starts at the send time of the first probe that failed (or timed out) after the last success, or,
/// when no probe ran at all (a frozen process, a starved thread pool), one interval and one probe bound after the last
/// success. A success ends the cut.
/// </summary>
internal sealed class MembershipContact
{
    private readonly TimeProvider _time;
    private readonly Func<CancellationToken, Task> _probe;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();

    /// <summary>When the last successful probe was sent (guarded by <see cref="_gate"/>).</summary>
    private long _lastSuccess;

    /// <summary>When the first failed probe since the last success was sent; 0 for none (guarded by <see cref="_gate"/>).</summary>
    private long _firstFailure;

    public MembershipContact(TimeProvider time, Func<CancellationToken, Task> probe, TimeSpan interval)
    {
        _time = time;
        _probe = probe;
        _interval = interval;
        _lastSuccess = time.GetTimestamp();
    }

    /// <summary>How long the host has been cut off from the membership table; zero while it is not.</summary>
    public TimeSpan CutOff
    {
        get
        {
            var now = _time.GetTimestamp();
            lock (_gate)
            {
                var since = _firstFailure != 0 ? _firstFailure : _lastSuccess + ToTicks(_interval + _interval);
                return now > since ? TimeSpan.FromSeconds((now - since) / (double)_time.TimestampFrequency) : TimeSpan.Zero;
            }
        }
    }

    /// <summary>Sends one probe, bounded by the interval, and records how it went; true when it succeeded.</summary>
    public async Task<bool> ProbeAsync(CancellationToken cancellationToken)
    {
        var sentAt = _time.GetTimestamp();
        try
        {
            await _probe(cancellationToken).WaitAsync(_interval, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            lock (_gate)
            {
                if (_firstFailure == 0)
                {
                    _firstFailure = sentAt;
                }
            }

            return false;
        }

        lock (_gate)
        {
            _lastSuccess = Math.Max(_lastSuccess, sentAt);
            _firstFailure = 0;
        }

        return true;
    }

    private long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);
}
