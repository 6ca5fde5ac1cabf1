using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering;

/// <summary>
/// Validates <see cref="GpuClusteringOptions"/> and, through their validators, the nested options at their paths
/// (<c>Telemetry.</c>, <c>Selector.</c>, <c>Selector.Weights.</c>, <c>NvmlOptions.</c>, <c>SimulatedOptions.</c>).
/// </summary>
internal static class GpuClusteringOptionsValidator
{
    /// <summary>Adds every invalid value to <paramref name="errors"/>.</summary>
    /// <param name="options">The options.</param>
    /// <param name="path">Their property path: empty, or ending with a dot.</param>
    /// <param name="errors">Where the errors go, one sentence each.</param>
    public static void Validate(GpuClusteringOptions options, string path, List<string> errors)
    {
        if (!Enum.IsDefined(options.BackendChoice))
        {
            OptionsValidation.Add(errors, path, nameof(options.BackendChoice), $"must be a defined {nameof(GpuBackendChoice)}", options.BackendChoice);
        }

        if (options.NvmlOptions is { } nvml)
        {
            NvmlGpuBackendOptionsValidator.Validate(nvml, path + nameof(options.NvmlOptions) + ".", errors);
        }

        if (options.SimulatedOptions is { } simulated)
        {
            SimulatedGpuBackendOptionsValidator.Validate(simulated, path + nameof(options.SimulatedOptions) + ".", errors);
        }

        if (options.Telemetry is null)
        {
            OptionsValidation.AddNull(errors, path, nameof(options.Telemetry));
        }
        else
        {
            TelemetryOptionsValidator.Validate(options.Telemetry, path + nameof(options.Telemetry) + ".", errors);
        }

        if (options.Selector is null)
        {
            OptionsValidation.AddNull(errors, path, nameof(options.Selector));
        }
        else
        {
            DeviceSelectorOptionsValidator.Validate(options.Selector, path + nameof(options.Selector) + ".", errors);
        }

        if (options.RediscoveryInterval is TimeSpan r && (r <= TimeSpan.Zero || r > GpuClusteringOptions.MaxRediscoveryInterval))
        {
            OptionsValidation.Add(errors, path, nameof(options.RediscoveryInterval), "must be more than 0 and at most one day, or null", r);
        }

        if (options.DrainTimeout < TimeSpan.Zero || options.DrainTimeout > GpuClusteringOptions.MaxDrainTimeout)
        {
            OptionsValidation.Add(errors, path, nameof(options.DrainTimeout), "must be from 0 to one hour", options.DrainTimeout);
        }

        if (options.DiscoveryTimeout <= TimeSpan.Zero || options.DiscoveryTimeout > GpuClusteringOptions.MaxDiscoveryTimeout)
        {
            OptionsValidation.Add(errors, path, nameof(options.DiscoveryTimeout), "must be more than 0 and at most one hour", options.DiscoveryTimeout);
        }

        if (options.StopTimeout < TimeSpan.Zero || options.StopTimeout > GpuClusteringOptions.MaxStopTimeout)
        {
            OptionsValidation.Add(errors, path, nameof(options.StopTimeout), "must be from 0 to one hour", options.StopTimeout);
        }
    }
}
