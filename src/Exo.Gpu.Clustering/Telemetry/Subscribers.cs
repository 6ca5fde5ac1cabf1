using System.Threading.Channels;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// The bounded, drop-oldest channels of one kind of subscriber. Publishing reads a copy-on-write array (no lock, no
/// allocation beyond the channel's own) and never blocks: a slow subscriber loses its oldest items instead.
/// </summary>
internal sealed class Subscribers<T>
{
    private readonly Lock _gate = new();

    /// <summary>The live channels; replaced, never mutated.</summary>
    private Channel<T>[] _channels = [];

    /// <summary>Set once by <see cref="CompleteAll"/>; later subscriptions complete at once.</summary>
    private bool _completed;

    /// <summary>Whether anyone subscribes (a racy read, good enough to skip building an item).</summary>
    public bool Any => Volatile.Read(ref _channels).Length != 0;

    /// <summary>Adds a subscriber whose channel holds at most <paramref name="capacity"/> items; cancelling the token removes and completes it.</summary>
    public ChannelReader<T> Add(int capacity, CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = false,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });
        lock (_gate)
        {
            if (_completed)
            {
                channel.Writer.TryComplete();
                return channel.Reader;
            }

            _channels = [.. _channels, channel];
        }

        if (cancellationToken.CanBeCanceled)
        {
            cancellationToken.UnsafeRegister(static (state, _) => ((Subscription)state!).Remove(), new Subscription(this, channel));
        }

        return channel.Reader;
    }

    /// <summary>Writes an item to every subscriber, dropping each one's oldest item when it is full.</summary>
    public void Publish(T item)
    {
        foreach (var channel in Volatile.Read(ref _channels))
        {
            channel.Writer.TryWrite(item);
        }
    }

    /// <summary>Completes every channel (readers drain what is left, then end); later subscriptions complete at once.</summary>
    public void CompleteAll()
    {
        Channel<T>[] channels;
        lock (_gate)
        {
            _completed = true;
            channels = _channels;
            _channels = [];
        }

        foreach (var channel in channels)
        {
            channel.Writer.TryComplete();
        }
    }

    private void Remove(Channel<T> channel)
    {
        lock (_gate)
        {
            var i = Array.IndexOf(_channels, channel);
            if (i >= 0)
            {
                _channels = [.. _channels.AsSpan(0, i), .. _channels.AsSpan(i + 1)];
            }
        }

        channel.Writer.TryComplete();
    }

    private sealed record Subscription(Subscribers<T> Owner, Channel<T> Channel)
    {
        public void Remove() => Owner.Remove(Channel);
    }
}
