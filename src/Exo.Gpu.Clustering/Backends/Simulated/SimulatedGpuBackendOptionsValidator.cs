using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>Validates <see cref="SimulatedGpuBackendOptions"/>: a profile and a plan whose faults name devices of the profile.</summary>
internal static class SimulatedGpuBackendOptionsValidator
{
    /// <summary>Adds every invalid value to <paramref name="errors"/>.</summary>
    /// <param name="options">The options.</param>
    /// <param name="path">Their property path: empty, or ending with a dot (<c>SimulatedOptions.</c>).</param>
    /// <param name="errors">Where the errors go, one sentence each.</param>
    public static void Validate(SimulatedGpuBackendOptions options, string path, List<string> errors)
    {
        if (options.Profile is null)
        {
            OptionsValidation.AddNull(errors, path, nameof(options.Profile));
        }

        if (options.FaultPlan is null)
        {
            OptionsValidation.AddNull(errors, path, nameof(options.FaultPlan));
        }
        else if (options.Profile is not null)
        {
            var count = options.Profile.Devices.Count;
            foreach (var fault in options.FaultPlan.Faults)
            {
                if (fault.DeviceIndex >= count)
                {
                    errors.Add(string.Create(
                        CultureInfo.InvariantCulture,
                        $"{path}{nameof(options.FaultPlan)} fault '{fault}' names device {fault.DeviceIndex}, but {path}{nameof(options.Profile)} has {count} devices."));
                }
            }
        }
    }

    /// <summary>Validates the options a <see cref="SimulatedGpuBackend"/> was given.</summary>
    /// <param name="options">The options.</param>
    /// <param name="paramName">The parameter that held them.</param>
    /// <exception cref="ArgumentException">One or more values are invalid; the message lists every one.</exception>
    public static void ThrowIfInvalid(SimulatedGpuBackendOptions options, string paramName)
    {
        var errors = new List<string>();
        Validate(options, string.Empty, errors);
        OptionsValidation.ThrowIfAny(errors, "simulated backend", paramName);
    }
}
