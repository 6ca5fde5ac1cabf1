namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>Validates <see cref="DeviceSelectorOptions"/> (and their <see cref="DeviceSelectorOptions.Weights"/>).</summary>
internal static class DeviceSelectorOptionsValidator
{
    /// <summary>Adds every invalid value to <paramref name="errors"/>.</summary>
    /// <param name="options">The options.</param>
    /// <param name="path">Their property path: empty, or ending with a dot (<c>Selector.</c>).</param>
    /// <param name="errors">Where the errors go, one sentence each.</param>
    public static void Validate(DeviceSelectorOptions options, string path, List<string> errors)
    {
        if (!Enum.IsDefined(options.DefaultStrategy))
        {
            OptionsValidation.Add(errors, path, nameof(options.DefaultStrategy), $"must be a defined {nameof(GpuSelectionStrategy)}", options.DefaultStrategy);
        }

        if (options.Weights is null)
        {
            OptionsValidation.AddNull(errors, path, nameof(options.Weights));
        }
        else
        {
            GpuScoreWeightsValidator.Validate(options.Weights, path + nameof(options.Weights) + ".", errors);
        }

        if (options.MemoryHeadroomBytes < DeviceSelectorOptions.MinMemoryHeadroomBytes)
        {
            OptionsValidation.Add(errors, path, nameof(options.MemoryHeadroomBytes), "must be 0 or more", options.MemoryHeadroomBytes);
        }

        if (options.MemoryHeadroom is { } headroom && !ByteSize.TryParse(headroom, out _))
        {
            errors.Add($"{path}{nameof(options.MemoryHeadroom)} must be a size such as 512MiB, 2GB or 1073741824 (bytes), 0 or more; it is '{headroom}'.");
        }

        if (!double.IsFinite(options.HotTemperatureC) || options.HotTemperatureC <= DeviceSelectorOptions.RoomTemperatureC)
        {
            OptionsValidation.Add(errors, path, nameof(options.HotTemperatureC), $"must be a finite temperature above {DeviceSelectorOptions.RoomTemperatureC} °C", options.HotTemperatureC);
        }

        if (options.MaxLeasesPerDevice is int leases && leases < DeviceSelectorOptions.MinMaxLeasesPerDevice)
        {
            OptionsValidation.Add(errors, path, nameof(options.MaxLeasesPerDevice), $"must be at least {DeviceSelectorOptions.MinMaxLeasesPerDevice}, or null for no limit", leases);
        }

        if (options.RandomTopK < DeviceSelectorOptions.MinRandomTopK)
        {
            OptionsValidation.Add(errors, path, nameof(options.RandomTopK), $"must be at least {DeviceSelectorOptions.MinRandomTopK}", options.RandomTopK);
        }

        if (options.WaitRecheckInterval <= TimeSpan.Zero && options.WaitRecheckInterval != Timeout.InfiniteTimeSpan)
        {
            OptionsValidation.Add(errors, path, nameof(options.WaitRecheckInterval), "must be more than 0, or Timeout.InfiniteTimeSpan", options.WaitRecheckInterval);
        }
    }

    /// <summary>Validates the options a <see cref="DeviceSelector"/> was given.</summary>
    /// <param name="options">The options.</param>
    /// <param name="paramName">The parameter that held them.</param>
    /// <exception cref="ArgumentException">One or more values are invalid; the message lists every one.</exception>
    public static void ThrowIfInvalid(DeviceSelectorOptions options, string paramName)
    {
        var errors = new List<string>();
        Validate(options, string.Empty, errors);
        OptionsValidation.ThrowIfAny(errors, "selector", paramName);
    }
}
