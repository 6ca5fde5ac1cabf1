namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>Validates <see cref="NvmlGpuBackendOptions"/>: a defined device order and an event wait of 1 ms to 1 minute.</summary>
internal static class NvmlGpuBackendOptionsValidator
{
    /// <summary>Adds every invalid value to <paramref name="errors"/>.</summary>
    /// <param name="options">The options.</param>
    /// <param name="path">Their property path: empty, or ending with a dot (<c>NvmlOptions.</c>).</param>
    /// <param name="errors">Where the errors go, one sentence each.</param>
    public static void Validate(NvmlGpuBackendOptions options, string path, List<string> errors)
    {
        if (!Enum.IsDefined(options.CudaDeviceOrder))
        {
            OptionsValidation.Add(errors, path, nameof(options.CudaDeviceOrder), $"must be a defined {nameof(CudaDeviceOrder)}", options.CudaDeviceOrder);
        }

        if (options.EventWaitTimeout < NvmlGpuBackendOptions.MinEventWaitTimeout || options.EventWaitTimeout > NvmlGpuBackendOptions.MaxEventWaitTimeout)
        {
            OptionsValidation.Add(errors, path, nameof(options.EventWaitTimeout), "must be from 1 ms to 1 minute", options.EventWaitTimeout);
        }
    }

    /// <summary>Validates the options an <see cref="NvmlGpuBackend"/> was given.</summary>
    /// <param name="options">The options.</param>
    /// <param name="paramName">The parameter that held them.</param>
    /// <exception cref="ArgumentException">One or more values are invalid; the message lists every one.</exception>
    public static void ThrowIfInvalid(NvmlGpuBackendOptions options, string paramName)
    {
        var errors = new List<string>();
        Validate(options, string.Empty, errors);
        OptionsValidation.ThrowIfAny(errors, "NVML backend", paramName);
    }
}
