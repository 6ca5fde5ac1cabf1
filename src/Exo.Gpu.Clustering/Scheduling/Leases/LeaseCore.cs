using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// The selector's record of one grant, pooled and reused: <see cref="Generation"/> moves on at each release so a stale
/// <see cref="GpuLease"/> handle can never release a later grant. Owned by the <see cref="LeaseLedger"/>, which
/// creates, grants, revokes and frees it; mutated only under the selector's lock.
/// </summary>
internal sealed class LeaseCore(DeviceSelector owner)
{
    /// <summary>The selector that granted it.</summary>
    public DeviceSelector Owner { get; } = owner;

    /// <summary>Incremented at each release; a handle releases only while it matches.</summary>
    public int Generation;

    /// <summary>Whether granted and not released.</summary>
    public bool Active;

    /// <summary>Whether revoked (counted once, when revoked).</summary>
    public bool Revoked;

    /// <summary>The slot of a single-device lease.</summary>
    public int Slot;

    /// <summary>The slots of a gang lease; <see langword="null"/> for a single device.</summary>
    public int[]? Slots;

    /// <summary>Bytes reserved on each slot.</summary>
    public long MemoryBytes;

    /// <summary>The devices of the grant (a shared one-device list, or the gang's own).</summary>
    public IReadOnlyList<GpuDevice> Devices = [];

    /// <summary>The grant's revocation token.</summary>
    public CancellationToken Token;

    /// <summary>The grant's number.</summary>
    public long Id;

    /// <summary>A gang lease's own token source (single-device leases share their device's).</summary>
    public CancellationTokenSource? OwnCts;

    /// <summary>Whether the grant <paramref name="generation"/> is still held.</summary>
    public bool IsHeld(int generation) => Volatile.Read(ref Generation) == generation && Volatile.Read(ref Active);

    /// <summary>Releases the grant <paramref name="generation"/> through the selector (which serves waiters after it).</summary>
    public void Release(int generation) => Owner.Release(this, generation);

    /// <summary>Whether the grant holds <paramref name="slot"/>.</summary>
    public bool Uses(int slot)
    {
        if (Slots is null)
        {
            return Slot == slot;
        }

        return Array.IndexOf(Slots, slot) >= 0;
    }
}
