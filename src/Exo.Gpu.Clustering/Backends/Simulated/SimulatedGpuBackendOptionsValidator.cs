using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>
/// Validates <see cref="SimulatedGpuBackendOptions"/>: a device count of 1 to 1,024, a defined profile, and a fault plan
/// that parses and names devices of the cluster; and the profile and plan given to the custom-specs constructor.
/// </summary>
internal static class SimulatedGpuBackendOptionsValidator
{
    /// <summary>Adds every invalid value to <paramref name="errors"/>.</summary>
    /// <param name="options">The options.</param>
    /// <param name="path">Their property path: empty, or ending with a dot (<c>SimulatedOptions.</c>).</param>
    /// <param name="errors">Where the errors go, one sentence each.</param>
    public static void Validate(SimulatedGpuBackendOptions options, string path, List<string> errors)
    {
        var countValid = options.DeviceCount is >= 1 and <= SimulatedGpuBackendOptions.MaxDeviceCount;
        if (!countValid)
        {
            OptionsValidation.Add(errors, path, nameof(options.DeviceCount), $"must be from 1 to {SimulatedGpuBackendOptions.MaxDeviceCount}", options.DeviceCount);
        }

        if (!Enum.IsDefined(options.Profile))
        {
            OptionsValidation.Add(errors, path, nameof(options.Profile), $"must be a defined {nameof(SimulatedProfileKind)} (Homogeneous or Heterogeneous)", options.Profile);
        }

        if (string.IsNullOrWhiteSpace(options.Faults))
        {
            return;
        }

        SimulatedFaultPlan plan;
        try
        {
            plan = SimulatedFaultPlan.Parse(options.Faults);
        }
        catch (FormatException e)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{path}{nameof(options.Faults)} must be a fault plan such as 'lost:2@30s+60s,hot:0@5s' ({e.Message.TrimEnd('.')}); it is '{options.Faults}'."));
            return;
        }

        if (countValid)
        {
            AddFaultsBeyond(plan, options.DeviceCount, $"{path}{nameof(options.Faults)}", $"{path}{nameof(options.DeviceCount)} is {options.DeviceCount}", errors);
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

    /// <summary>Validates a custom profile and its fault plan.</summary>
    /// <param name="profile">The profile.</param>
    /// <param name="faultPlan">The plan.</param>
    /// <exception cref="ArgumentNullException">Either is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A fault names a device the profile lacks (the message lists every one).</exception>
    public static void ThrowIfInvalid(SimulatedClusterProfile profile, SimulatedFaultPlan faultPlan)
    {
        ArgumentNullException.ThrowIfNull(profile);
        ArgumentNullException.ThrowIfNull(faultPlan);
        var errors = new List<string>();
        AddFaultsBeyond(faultPlan, profile.Devices.Count, nameof(faultPlan), $"the profile has {profile.Devices.Count} devices", errors);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid simulated fault plan: " + string.Join(" ", errors), nameof(faultPlan));
        }
    }

    private static void AddFaultsBeyond(SimulatedFaultPlan plan, int count, string what, string but, List<string> errors)
    {
        foreach (var fault in plan.Faults)
        {
            if (fault.DeviceIndex >= count)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"{what} fault '{fault}' names device {fault.DeviceIndex}, but {but}."));
            }
        }
    }
}
