namespace Exo.Gpu.Clustering.Orleans;

/// <summary>What a release found: releases are idempotent and final.</summary>
public enum ClusterReleaseResult
{
    /// <summary>This call released the lease.</summary>
    Released = 0,

    /// <summary>The lease had already ended: released, revoked or expired before this call.</summary>
    AlreadyReleased = 1,

    /// <summary>No lease with this request id is known.</summary>
    Unknown = 2,
}
