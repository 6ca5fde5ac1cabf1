using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Backends;

/// <summary>Makes a backend by choice: strict for <see cref="GpuBackendChoice.Nvml"/>, falling back for <see cref="GpuBackendChoice.Auto"/>.</summary>
public static class GpuBackendFactory
{
    /// <summary>Makes the backend <paramref name="choice"/> names.</summary>
    /// <param name="choice">Which backend.</param>
    /// <param name="nvmlOptions">Settings of the NVML backend; defaults when <see langword="null"/>.</param>
    /// <param name="simulatedOptions">Settings of the simulated cluster; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock of the backend made; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Where the backend made logs; nothing is logged when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the NVML probe of <see cref="GpuBackendChoice.Auto"/>.</param>
    /// <returns>The backend and, for a fallback, why.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="choice"/> is not defined.</exception>
    /// <exception cref="ArgumentException">The options of the backend made are invalid.</exception>
    /// <exception cref="GpuBackendUnavailableException"><paramref name="choice"/> is <see cref="GpuBackendChoice.Nvml"/> and NVML cannot be used; the message names what was searched.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    public static async ValueTask<GpuBackendSelection> CreateAsync(
        GpuBackendChoice choice,
        NvmlGpuBackendOptions? nvmlOptions = null,
        SimulatedGpuBackendOptions? simulatedOptions = null,
        TimeProvider? timeProvider = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default)
    {
        if (!Enum.IsDefined(choice))
        {
            throw new ArgumentOutOfRangeException(nameof(choice), choice, "Unknown backend choice.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        switch (choice)
        {
            case GpuBackendChoice.Simulated:
                return new GpuBackendSelection(new SimulatedGpuBackend(simulatedOptions, timeProvider), null);
            case GpuBackendChoice.Nvml:
                return new GpuBackendSelection(new NvmlGpuBackend(nvmlOptions, timeProvider, loggerFactory), null);
        }

        string reason;
        NvmlGpuBackend? nvml = null;
        try
        {
            nvml = new NvmlGpuBackend(nvmlOptions, timeProvider, loggerFactory);
            var devices = await nvml.DiscoverAsync(cancellationToken).ConfigureAwait(false);
            if (devices.Count > 0)
            {
                return new GpuBackendSelection(nvml, null);
            }

            reason = nvml.NoDeviceReason is { } why ? "NVML loaded but no device is visible: " + why : "NVML loaded but no device is visible";
        }
        catch (GpuBackendUnavailableException e)
        {
            reason = e.Message;
        }
        catch
        {
            if (nvml is not null)
            {
                await nvml.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        if (nvml is not null)
        {
            await nvml.DisposeAsync().ConfigureAwait(false);
        }

        return new GpuBackendSelection(new SimulatedGpuBackend(simulatedOptions, timeProvider), reason);
    }
}
