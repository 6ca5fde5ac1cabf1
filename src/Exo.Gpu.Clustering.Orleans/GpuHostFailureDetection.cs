namespace Exo.Gpu.Clustering.Orleans;

/// <summary>
/// How fast Orleans declares a GPU host's silo dead (<c>UseGpuHostFailureDetection</c>). A crashed process refuses
/// connections, so it is seen quickly; a hung one (SIGSTOP, a frozen VM) only after its probes time out:
/// about <c>4 × ProbeTimeout × NumMissedProbesLimit</c> plus a vote.
/// </summary>
public enum GpuHostFailureDetection
{
    /// <summary>Orleans' defaults, unchanged (the default): measured on a 2-core machine, SIGKILL seen dead after about 12 s, SIGSTOP after about 65 s.</summary>
    OrleansDefaults = 0,

    /// <summary>ProbeTimeout 2 s, NumMissedProbesLimit 3: a hang in about 24 s, a crash in 1–2 s (estimates, not measured).</summary>
    Balanced = 1,

    /// <summary>
    /// ProbeTimeout 1 s, NumMissedProbesLimit 2, TableRefreshTimeout and IAmAliveTablePublishTimeout 5 s: measured in
    /// this project's process tests on a 2-core machine, SIGKILL seen dead after 1.3 s, SIGSTOP after 9.1 s. On busy
    /// machines it risks declaring a slow silo dead.
    /// </summary>
    Fast = 2,
}
