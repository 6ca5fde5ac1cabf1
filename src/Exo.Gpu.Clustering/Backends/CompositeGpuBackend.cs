using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends;

/// <summary>
/// Several backends seen as one: discovery concatenates their devices (a backend whose discovery fails is skipped
/// and reported, unless strict), sampling is routed to the backend that discovered the device, events are merged.
/// UUIDs must be unique across backends; indices stay per backend.
/// </summary>
internal sealed class CompositeGpuBackend : IGpuBackend
{
    private readonly IGpuBackend[] _backends;
    private readonly Lock _gate = new();
    private Dictionary<string, IGpuBackend> _owners = new(StringComparer.Ordinal);
    private int _disposed;

    public CompositeGpuBackend(IReadOnlyList<IGpuBackend> backends)
    {
        _backends = [.. backends];
    }

    /// <summary>The kind of the first backend (the composite has no kind of its own).</summary>
    public GpuBackendKind Kind => _backends[0].Kind;

    public IReadOnlyList<IGpuBackend> Backends => _backends;

    /// <summary>Called for a backend whose discovery failed when not strict; the backend's devices are left out.</summary>
    public Action<IGpuBackend, Exception>? DiscoveryFailed { get; init; }

    /// <summary>Whether one backend's failed discovery fails the whole discovery.</summary>
    public bool Strict { get; init; }

    /// <summary>
    /// How long one backend's discovery may take; infinite by default. When it passes, the backend's token fires and
    /// the discovery is abandoned (even if the backend ignores its token) with a <see cref="TimeoutException"/>,
    /// which counts as that backend's failed discovery.
    /// </summary>
    public TimeSpan DiscoveryTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>The clock of <see cref="DiscoveryTimeout"/>.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public async ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken) =>
        (await DiscoverEachAsync(cancellationToken).ConfigureAwait(false)).Devices;

    /// <summary>
    /// Discovers like <see cref="DiscoverAsync"/> and also says which backends' discovery failed (skipped when not
    /// strict): their devices are not listed, but that does not mean they are gone.
    /// </summary>
    public async ValueTask<(IReadOnlyList<GpuDevice> Devices, IReadOnlyCollection<IGpuBackend> Failed)> DiscoverEachAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        List<IGpuBackend>? failed = null;
        var devices = new List<GpuDevice>();
        var owners = new Dictionary<string, IGpuBackend>(StringComparer.Ordinal);
        foreach (var backend in _backends)
        {
            IReadOnlyList<GpuDevice> found;
            try
            {
                found = await DiscoverOneAsync(backend, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!Strict && _backends.Length > 1 && e is not OperationCanceledException and not ObjectDisposedException)
            {
                DiscoveryFailed?.Invoke(backend, e);
                (failed ??= []).Add(backend);
                continue;
            }

            foreach (var device in found)
            {
                if (!owners.TryAdd(device.Uuid, backend))
                {
                    throw new GpuBackendUnavailableException($"Device UUID {device.Uuid} was discovered by two backends; UUIDs must be unique across backends.");
                }

                devices.Add(device);
            }
        }

        lock (_gate)
        {
            // Keep owners of devices not listed now (lost ones), so a late reading still reaches its backend.
            foreach (var (uuid, backend) in _owners)
            {
                owners.TryAdd(uuid, backend);
            }

            _owners = owners;
        }

        return (devices, (IReadOnlyCollection<IGpuBackend>?)failed ?? []);
    }

    /// <summary>
    /// Runs one backend's discovery within <see cref="DiscoveryTimeout"/> and the caller's token: the await is bounded
    /// even when the backend ignores its token (its call is then abandoned, and a late failure of it observed).
    /// </summary>
    /// <exception cref="TimeoutException">The discovery did not finish within <see cref="DiscoveryTimeout"/>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    private async Task<IReadOnlyList<GpuDevice>> DiscoverOneAsync(IGpuBackend backend, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(DiscoveryTimeout, Time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        var discovery = backend.DiscoverAsync(linked.Token).AsTask();
        try
        {
            return await discovery.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!discovery.IsCompleted || timer.IsCancellationRequested)
        {
            if (!discovery.IsCompleted)
            {
                _ = discovery.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(string.Create(
                CultureInfo.InvariantCulture,
                $"A {backend.Kind} backend's discovery did not finish within {DiscoveryTimeout.TotalSeconds:0.###} s{(discovery.IsCompleted ? string.Empty : "; the call was abandoned")}."));
        }
    }

    /// <summary>The backend that discovered a device (at any discovery so far), or <see langword="null"/>.</summary>
    public IGpuBackend? OwnerOf(string uuid)
    {
        lock (_gate)
        {
            return _owners.GetValueOrDefault(uuid);
        }
    }

    public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        IGpuBackend? owner;
        lock (_gate)
        {
            _owners.TryGetValue(device.Uuid, out owner);
        }

        return owner is null
            ? throw new ArgumentException($"Device {device.Uuid} was not discovered by any backend.", nameof(device))
            : owner.SampleAsync(device, cancellationToken);
    }

    public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (_backends.Length == 1)
        {
            await foreach (var e in _backends[0].WatchEventsAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return e;
            }

            yield break;
        }

        var merged = Channel.CreateUnbounded<GpuDeviceEvent>(new UnboundedChannelOptions { SingleReader = true });
        var pumps = _backends.Select(b => PumpAsync(b, merged.Writer, cancellationToken)).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(t => merged.Writer.TryComplete(t.Exception), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        await foreach (var e in merged.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return e;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        List<Exception>? errors = null;
        foreach (var backend in _backends.Reverse())
        {
            try
            {
                await backend.DisposeAsync().ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Every backend is disposed; the failures are reported together.
            catch (Exception e)
#pragma warning restore CA1031
            {
                (errors ??= []).Add(e);
            }
        }

        if (errors is not null)
        {
            throw new AggregateException("Disposing a GPU backend failed.", errors);
        }
    }

    private static async Task PumpAsync(IGpuBackend backend, ChannelWriter<GpuDeviceEvent> writer, CancellationToken cancellationToken)
    {
        await foreach (var e in backend.WatchEventsAsync(cancellationToken).ConfigureAwait(false))
        {
            await writer.WriteAsync(e, cancellationToken).ConfigureAwait(false);
        }
    }
}
