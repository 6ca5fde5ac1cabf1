namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// Settings of a cluster pool: the host-side lease TTL, the holder's deadline (shorter, so the holder stops before
/// the host gives the capacity away), the renew interval (shorter still), the prepare TTL of gang parts and the bound
/// on attempts. Validated once, when the pool is created (every error in one message).
/// </summary>
public sealed class ClusterGpuPoolOptions
{
    /// <summary>The default <see cref="LeaseTtl"/>: 15 s.</summary>
    public static readonly TimeSpan DefaultLeaseTtl = TimeSpan.FromSeconds(15);

    /// <summary>The default <see cref="HolderDeadline"/>: 10 s.</summary>
    public static readonly TimeSpan DefaultHolderDeadline = TimeSpan.FromSeconds(10);

    /// <summary>The default <see cref="RenewInterval"/>: 1 s.</summary>
    public static readonly TimeSpan DefaultRenewInterval = TimeSpan.FromSeconds(1);

    /// <summary>The default <see cref="PrepareTtl"/>: 5 s.</summary>
    public static readonly TimeSpan DefaultPrepareTtl = TimeSpan.FromSeconds(5);

    /// <summary>The default <see cref="CallTimeout"/>: 5 s.</summary>
    public static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The longest TTL accepted: 1 h.</summary>
    public static readonly TimeSpan MaxTtl = TimeSpan.FromHours(1);

    /// <summary>The default <see cref="ViewMaxAge"/>: 250 ms.</summary>
    public static readonly TimeSpan DefaultViewMaxAge = TimeSpan.FromMilliseconds(250);

    /// <summary>The default <see cref="MaxAttempts"/>: 8.</summary>
    public const int DefaultMaxAttempts = 8;

    /// <summary>The most <see cref="MaxAttempts"/> accepted: 1,000.</summary>
    public const int MaxMaxAttempts = 1000;

    /// <summary>How long a host keeps a lease without a renew before it expires it (15 s by default; 1 s to <see cref="MaxTtl"/>).</summary>
    public TimeSpan LeaseTtl { get; set; } = DefaultLeaseTtl;

    /// <summary>How long after its last confirmed renew the holder's token fires (10 s by default): more than <see cref="RenewInterval"/>, less than <see cref="LeaseTtl"/>.</summary>
    public TimeSpan HolderDeadline { get; set; } = DefaultHolderDeadline;

    /// <summary>How often held leases are renewed and the directory view checked for departed hosts (1 s by default; 10 ms or more, less than <see cref="HolderDeadline"/>).</summary>
    public TimeSpan RenewInterval { get; set; } = DefaultRenewInterval;

    /// <summary>How long a prepared, uncommitted gang part lives on its host (5 s by default; 100 ms to <see cref="LeaseTtl"/>).</summary>
    public TimeSpan PrepareTtl { get; set; } = DefaultPrepareTtl;

    /// <summary>The bound on each call to a host or the directory (5 s by default; 10 ms to 5 min).</summary>
    public TimeSpan CallTimeout { get; set; } = DefaultCallTimeout;

    /// <summary>The most planning rounds an acquire tries before it gives up with <see cref="ClusterCapacityException"/> (8 by default; 1 to <see cref="MaxMaxAttempts"/>).</summary>
    public int MaxAttempts { get; set; } = DefaultMaxAttempts;

    /// <summary>
    /// How old a directory view an acquire may plan its first round on (250 ms by default; 0 to 10 s; 0 fetches a view
    /// for every acquire). The pool keeps the last view it fetched (for an acquire, <see cref="IClusterGpuPool.GetViewAsync"/>
    /// or its departure watch), so a busy pool asks the one directory grain a few times a second instead of once per
    /// acquire. Plans are only proposals: a host refuses what it cannot hold, with its fresh report, and later rounds
    /// always fetch anew.
    /// </summary>
    public TimeSpan ViewMaxAge { get; set; } = DefaultViewMaxAge;

    /// <summary>The pause between rounds when nothing fits, multiplied by the round's number (50 ms by default; 0 to 10 s).</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Every problem of these settings, each naming its property; empty when they are valid.</summary>
    /// <returns>The problems, in property order.</returns>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (LeaseTtl < TimeSpan.FromSeconds(1) || LeaseTtl > MaxTtl)
        {
            errors.Add($"{nameof(LeaseTtl)} must be 1 s to 1 h, got {LeaseTtl}");
        }

        if (HolderDeadline >= LeaseTtl || HolderDeadline <= RenewInterval)
        {
            errors.Add($"{nameof(HolderDeadline)} must be more than {nameof(RenewInterval)} ({RenewInterval}) and less than {nameof(LeaseTtl)} ({LeaseTtl}), got {HolderDeadline}");
        }

        if (RenewInterval < TimeSpan.FromMilliseconds(10))
        {
            errors.Add($"{nameof(RenewInterval)} must be 10 ms or more, got {RenewInterval}");
        }

        if (PrepareTtl < TimeSpan.FromMilliseconds(100) || PrepareTtl > LeaseTtl)
        {
            errors.Add($"{nameof(PrepareTtl)} must be 100 ms to {nameof(LeaseTtl)} ({LeaseTtl}), got {PrepareTtl}");
        }

        if (CallTimeout < TimeSpan.FromMilliseconds(10) || CallTimeout > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{nameof(CallTimeout)} must be 10 ms to 5 min, got {CallTimeout}");
        }

        if (MaxAttempts is < 1 or > MaxMaxAttempts)
        {
            errors.Add($"{nameof(MaxAttempts)} must be 1 to {MaxMaxAttempts}, got {MaxAttempts}");
        }

        if (RetryDelay < TimeSpan.Zero || RetryDelay > TimeSpan.FromSeconds(10))
        {
            errors.Add($"{nameof(RetryDelay)} must be 0 to 10 s, got {RetryDelay}");
        }

        if (ViewMaxAge < TimeSpan.Zero || ViewMaxAge > TimeSpan.FromSeconds(10))
        {
            errors.Add($"{nameof(ViewMaxAge)} must be 0 to 10 s, got {ViewMaxAge}");
        }

        return errors;
    }
}
