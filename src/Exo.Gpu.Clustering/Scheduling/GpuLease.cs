using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// A reservation of memory (and, when the selector limits them, a concurrency slot) on one device, or on several for
/// a gang request. Release it with <see cref="DisposeAsync"/> (<c>await using</c>), which is idempotent and wakes
/// waiting requests.
/// </summary>
/// <remarks>
/// <para>A small handle (a struct of a pooled record and a generation, so granting one allocates nothing): copies refer
/// to the same lease, and releasing through any copy releases it once; releasing again, through any copy, does
/// nothing. Once released, its properties throw <see cref="ObjectDisposedException"/> (the record is reused) and
/// <see cref="IsHeld"/> is <see langword="false"/>. <c>default(GpuLease)</c> holds nothing (what
/// <see cref="DeviceSelector.TryAcquire"/> returns when it fails).</para>
/// <para><see cref="Token"/> fires when the lease is revoked: a device of the lease is lost or becomes unhealthy, or
/// the cluster shuts down. A revoked lease still holds its reservation until it is released, so stop the work and
/// release it.</para>
/// </remarks>
public readonly struct GpuLease : IAsyncDisposable, IDisposable, IEquatable<GpuLease>
{
    /// <summary>The pooled record of the grant; <see langword="null"/> for <c>default(GpuLease)</c>.</summary>
    private readonly LeaseCore? _core;

    /// <summary>The record's generation when granted: the handle is live while the record's matches.</summary>
    private readonly int _generation;

    internal GpuLease(LeaseCore core, int generation)
    {
        _core = core;
        _generation = generation;
    }

    /// <summary>The device (the first one, for a gang).</summary>
    /// <exception cref="InvalidOperationException">This is <c>default(GpuLease)</c>, which holds no device.</exception>
    /// <exception cref="ObjectDisposedException">The lease was released.</exception>
    public GpuDevice Device => Core.Devices[0];

    /// <summary>Every device of the lease: one, or the gang's, best first.</summary>
    /// <exception cref="InvalidOperationException">This is <c>default(GpuLease)</c>, which holds no device.</exception>
    /// <exception cref="ObjectDisposedException">The lease was released.</exception>
    public IReadOnlyList<GpuDevice> Devices => Core.Devices;

    /// <summary>The memory reserved on each device, in bytes.</summary>
    /// <exception cref="InvalidOperationException">This is <c>default(GpuLease)</c>.</exception>
    /// <exception cref="ObjectDisposedException">The lease was released.</exception>
    public long MemoryBytes => Core.MemoryBytes;

    /// <summary>
    /// Fires when the lease is revoked (a device lost or unhealthy, or shutdown). <c>default(GpuLease)</c> has a token
    /// that never fires.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The lease was released.</exception>
    public CancellationToken Token => _core is null ? default : Core.Token;

    /// <summary>The lease's number, unique within its selector (0 for <c>default(GpuLease)</c>).</summary>
    /// <exception cref="ObjectDisposedException">The lease was released.</exception>
    public long Id => _core is null ? 0 : Core.Id;

    /// <summary>Whether the lease is granted and not yet released (a revoked lease is held until released).</summary>
    public bool IsHeld => _core is { } core && core.IsHeld(_generation);

    /// <summary>The record while this grant holds it (pooled records are reused once released).</summary>
    private LeaseCore Core => _core is { } core && core.IsHeld(_generation) ? core : throw (_core is null ? NoLease() : Released());

    /// <summary>Releases the lease: its reservation returns to the device and waiting requests are examined. Idempotent.</summary>
    /// <returns>A completed task: releasing never waits.</returns>
    public ValueTask DisposeAsync()
    {
        _core?.Release(_generation);
        return default;
    }

    /// <summary>Releases the lease, like <see cref="DisposeAsync"/>. Idempotent.</summary>
    public void Dispose() => _core?.Release(_generation);

    /// <summary>Whether both handles refer to the same grant.</summary>
    /// <param name="other">The other handle.</param>
    public bool Equals(GpuLease other) => ReferenceEquals(_core, other._core) && _generation == other._generation;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is GpuLease other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(_core, _generation);

    /// <summary>Formats as <c>lease 12: 20 GiB on 3: NVIDIA H100 … (GPU-…)</c>, <c>released lease</c> or <c>no lease</c>.</summary>
    public override string ToString() => _core is null ? "no lease"
        : IsHeld ? $"lease {Core.Id}: {ByteSize.Format(Core.MemoryBytes)} on {string.Join(", ", Core.Devices)}"
        : "released lease";

    /// <summary>Whether both handles refer to the same grant.</summary>
    /// <param name="left">One handle.</param>
    /// <param name="right">The other.</param>
    public static bool operator ==(GpuLease left, GpuLease right) => left.Equals(right);

    /// <summary>Whether the handles refer to different grants.</summary>
    /// <param name="left">One handle.</param>
    /// <param name="right">The other.</param>
    public static bool operator !=(GpuLease left, GpuLease right) => !left.Equals(right);

    private static InvalidOperationException NoLease() => new("This GpuLease is default: it holds no device.");

    private static ObjectDisposedException Released() => new(nameof(GpuLease), "The lease was released; its record now belongs to another grant.");
}
