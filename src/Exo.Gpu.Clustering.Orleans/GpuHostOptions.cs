namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// Settings of a GPU host silo: its host id, how often it reports to the directory, the longest lease TTL it grants,
/// and how often it reaps expired leases. The host's own <see cref="GpuClusteringManager"/> is configured with the
/// hosting add-on's <c>services.AddGpuClustering(...)</c> (a configuration section or a delegate).
/// </summary>
public sealed class GpuHostOptions
{
    /// <summary>The default <see cref="ReportInterval"/>: 1 s.</summary>
    public static readonly TimeSpan DefaultReportInterval = TimeSpan.FromSeconds(1);

    /// <summary>The default <see cref="MaxLeaseTtl"/>: 5 min.</summary>
    public static readonly TimeSpan DefaultMaxLeaseTtl = TimeSpan.FromMinutes(5);

    /// <summary>The default <see cref="ReapInterval"/>: 250 ms.</summary>
    public static readonly TimeSpan DefaultReapInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>The default <see cref="MembershipProbeInterval"/>: 5 s.</summary>
    public static readonly TimeSpan DefaultMembershipProbeInterval = TimeSpan.FromSeconds(5);

    /// <summary>The default <see cref="EndedRetention"/>: 65,536.</summary>
    public const int DefaultEndedRetention = 65536;

    /// <summary>
    /// The host id; <see langword="null"/> (the default) for the silo's name. When set, it becomes the silo's name:
    /// hosts are found by their silo's name in membership, so two silos can never quietly claim one host id (the
    /// second is refused at start).
    /// </summary>
    public string? HostId { get; set; }

    /// <summary>How often the host publishes its report (1 s by default; 10 ms to 1 min). Reports stay valid for three intervals.</summary>
    public TimeSpan ReportInterval { get; set; } = DefaultReportInterval;

    /// <summary>
    /// The longest lease TTL the host grants (5 min by default; 1 s to 1 h). A reserve asking for longer is refused
    /// with the reason (cutting it would leave the holder's deadline after the host's expiry); a renew asking for
    /// longer gets this.
    /// </summary>
    public TimeSpan MaxLeaseTtl { get; set; } = DefaultMaxLeaseTtl;

    /// <summary>How often expired leases are reaped (250 ms by default; 10 ms to 10 s).</summary>
    public TimeSpan ReapInterval { get; set; } = DefaultReapInterval;

    /// <summary>
    /// How often the host reads the membership table to prove it can still reach it (5 s by default; 100 ms to 1 min;
    /// each probe is bounded by the same span). From the first probe that fails or is overdue (a frozen process), the
    /// host counts itself cut off, and revokes each of its leases once the cut lasts longer than that lease's TTL: by
    /// then the cluster may have declared it dead and placed the work elsewhere. Grants resume once a probe succeeds.
    /// Each probe is one read of the table: mind the cost with a remote table and many hosts.
    /// </summary>
    public TimeSpan MembershipProbeInterval { get; set; } = DefaultMembershipProbeInterval;

    /// <summary>How many ended request ids the host remembers, so a late retry or release is answered truthfully (65,536 by default; 1 to 16,777,216).</summary>
    public int EndedRetention { get; set; } = DefaultEndedRetention;

    /// <summary>Every problem of these settings, each naming its property; empty when they are valid.</summary>
    /// <returns>The problems, in property order.</returns>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (HostId is { } id && (id.Length == 0 || id.Length > 128 || id.Any(char.IsWhiteSpace)))
        {
            errors.Add($"{nameof(HostId)} must be 1 to 128 characters without white space, got '{id}'");
        }

        if (ReportInterval < TimeSpan.FromMilliseconds(10) || ReportInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{nameof(ReportInterval)} must be 10 ms to 1 min, got {ReportInterval}");
        }

        if (MaxLeaseTtl < TimeSpan.FromSeconds(1) || MaxLeaseTtl > TimeSpan.FromHours(1))
        {
            errors.Add($"{nameof(MaxLeaseTtl)} must be 1 s to 1 h, got {MaxLeaseTtl}");
        }

        if (ReapInterval < TimeSpan.FromMilliseconds(10) || ReapInterval > TimeSpan.FromSeconds(10))
        {
            errors.Add($"{nameof(ReapInterval)} must be 10 ms to 10 s, got {ReapInterval}");
        }

        if (MembershipProbeInterval < TimeSpan.FromMilliseconds(100) || MembershipProbeInterval > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{nameof(MembershipProbeInterval)} must be 100 ms to 1 min, got {MembershipProbeInterval}");
        }

        if (EndedRetention is < 1 or > 16_777_216)
        {
            errors.Add($"{nameof(EndedRetention)} must be 1 to 16777216, got {EndedRetention}");
        }

        return errors;
    }
}
