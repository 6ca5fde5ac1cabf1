using Microsoft.Extensions.Options;

namespace Exo.Gpu.Clustering.Hosting;

/// <summary>
/// Validates <see cref="GpuClusteringOptions"/> with the library's own rules (<see cref="GpuClusteringOptions.Validate"/>),
/// reporting every bad value at once, each named by its configuration key:
/// <c>GpuClustering:Telemetry:HistoryCapacity must be from 1 to 1048576; it is 0.</c>
/// </summary>
public sealed class GpuClusteringConfigurationValidator : IValidateOptions<GpuClusteringOptions>
{
    /// <summary>The configuration path of the options' section, or <see langword="null"/>.</summary>
    private readonly string? _configurationPath;

    /// <summary>Creates a validator.</summary>
    /// <param name="configurationPath">The configuration path of the section the options are bound from (<c>GpuClustering</c>), which prefixes every key; <see langword="null"/> or empty for keys from the root.</param>
    public GpuClusteringConfigurationValidator(string? configurationPath = null)
    {
        _configurationPath = string.IsNullOrEmpty(configurationPath) ? null : configurationPath;
    }

    /// <summary>Validates the default (unnamed) options; named options are skipped.</summary>
    /// <param name="name">The options' name.</param>
    /// <param name="options">The options.</param>
    /// <returns>Success, a failure listing every bad value by its configuration key, or skip for named options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    public ValidateOptionsResult Validate(string? name, GpuClusteringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (name is not null && name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = options.Validate();
        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors.Select(e => $"{Key(e.Path)} {e.Problem}"));
    }

    /// <summary>The configuration key of a property path: <c>Telemetry.HistoryCapacity</c> is <c>{section}:Telemetry:HistoryCapacity</c>.</summary>
    private string Key(string path)
    {
        var key = path.Replace('.', ':');
        return _configurationPath is null ? key : _configurationPath + ":" + key;
    }
}
