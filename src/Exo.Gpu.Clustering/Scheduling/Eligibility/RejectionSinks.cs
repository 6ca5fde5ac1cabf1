using System.Runtime.CompilerServices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// Where the eligibility rules report a rejection. The rules are generic over a struct sink, so the JIT compiles them
/// once per sink: with <see cref="NoReasons"/> the first rejection ends the judgement and no reason is ever built
/// (the hot path); with <see cref="CollectReasons"/> every rule runs and each rejection's message is built.
/// </summary>
internal interface IRejectionSink
{
    /// <summary>Whether nothing has been rejected so far (for <see cref="NoReasons"/>: always, since a rejection stops the judgement).</summary>
    bool Accepted { get; }

    /// <summary>Records a rejection.</summary>
    /// <typeparam name="TReason">The rule's reason: its weight and, built only when asked for, its message.</typeparam>
    /// <param name="reason">The reason.</param>
    /// <returns>Whether to go on judging (<see langword="false"/>: the verdict is all that matters, stop now).</returns>
    bool Reject<TReason>(TReason reason)
        where TReason : struct, IRejectionReason;
}

/// <summary>Why a rule rejects a device: how far that puts the device from qualifying, and what to tell the caller.</summary>
internal interface IRejectionReason
{
    /// <summary>The weight of the reason (one of the <see cref="Rejections"/> constants).</summary>
    int Weight { get; }

    /// <summary>The message, e.g. <c>needs 20 GiB, 12 GiB free after reservations</c>.</summary>
    string Describe();
}

/// <summary>The verdict only: the first rejection stops the judgement, and nothing is built or allocated.</summary>
internal readonly struct NoReasons : IRejectionSink
{
    /// <inheritdoc />
    public bool Accepted
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => true;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Reject<TReason>(TReason reason)
        where TReason : struct, IRejectionReason => false;
}

/// <summary>Every reason, in rule order, with its weight added to <see cref="Rejections.Distance"/>.</summary>
/// <param name="reasons">The list the reasons go to.</param>
internal readonly struct CollectReasons(Rejections reasons) : IRejectionSink
{
    /// <summary>The reasons collected so far.</summary>
    public Rejections Reasons { get; } = reasons;

    /// <inheritdoc />
    public bool Accepted => Reasons.Count == 0;

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.NoInlining)]
    public bool Reject<TReason>(TReason reason)
        where TReason : struct, IRejectionReason
    {
        Reasons.Add(reason.Describe(), reason.Weight);
        return true;
    }
}
