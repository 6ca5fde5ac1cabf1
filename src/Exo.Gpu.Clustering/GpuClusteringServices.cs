using System.Diagnostics.Metrics;
using Exo.Gpu.Clustering.Backends;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering;

/// <summary>
/// The services a <see cref="GpuClusteringManager"/> uses: its clock, where it logs, its meter factory and the backends
/// it takes over. Kept apart from <see cref="GpuClusteringOptions"/>, which holds only data bindable from configuration;
/// a host's dependency injection container supplies these. Read once, when the manager is constructed (later changes
/// are not seen).
/// </summary>
public sealed class GpuClusteringServices
{
    /// <summary>The clock of every timer, deadline and reading; <see cref="TimeProvider.System"/> by default, not <see langword="null"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where every component logs (the manager, telemetry, selector and the backends it makes, NVML included); nothing is logged when <see langword="null"/>.</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Creates the <c>Exo.Gpu.Clustering</c> meter; the manager makes its own when <see langword="null"/>.</summary>
    public IMeterFactory? MeterFactory { get; set; }

    /// <summary>
    /// The backends whose devices form the cluster, not <see langword="null"/>, without null entries or duplicates; the
    /// manager owns them from its construction and disposes them when it stops (or when its start fails). When empty
    /// (the default), the manager makes one from <see cref="GpuClusteringOptions.BackendChoice"/>.
    /// </summary>
    public IList<IGpuBackend> Backends { get; set; } = new List<IGpuBackend>();

    /// <summary>Every problem with these services, one sentence each; empty when they can be used.</summary>
    /// <returns>The errors.</returns>
    internal List<string> Validate()
    {
        var errors = new List<string>();
        if (TimeProvider is null)
        {
            OptionsValidation.AddNull(errors, string.Empty, nameof(TimeProvider));
        }

        if (Backends is null)
        {
            OptionsValidation.AddNull(errors, string.Empty, nameof(Backends));
        }
        else
        {
            if (Backends.Any(b => b is null))
            {
                errors.Add($"{nameof(Backends)} must not hold null.");
            }

            if (Backends.Distinct().Count() != Backends.Count)
            {
                errors.Add($"{nameof(Backends)} must not hold the same backend twice.");
            }
        }

        return errors;
    }

    /// <summary>A copy that later changes to this object do not reach (the backend list copied).</summary>
    /// <returns>The copy.</returns>
    internal GpuClusteringServices Freeze() => new()
    {
        TimeProvider = TimeProvider ?? TimeProvider.System,
        LoggerFactory = LoggerFactory,
        MeterFactory = MeterFactory,
        Backends = Backends is null ? [] : [.. Backends],
    };
}
