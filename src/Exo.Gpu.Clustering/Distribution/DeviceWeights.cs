using System.Globalization;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Distribution;

/// <summary>
/// Builds weights for <see cref="WorkloadDistributor"/> from devices and their readings. A measured throughput (items
/// per second per device) needs no helper: pass it as the weights directly.
/// </summary>
/// <remarks>
/// Facts a device does not report are never guessed: asking for compute weights of a device whose multiprocessor count
/// or clock is unknown, or for free-memory weights without a memory reading, throws an
/// <see cref="ArgumentException"/> that names the device.
/// </remarks>
public static class DeviceWeights
{
    /// <summary>Builds one weight per device, in list order.</summary>
    /// <param name="devices">The devices, at least one.</param>
    /// <param name="source">What the weights follow.</param>
    /// <param name="samples">For <see cref="DeviceWeightSource.FreeMemory"/>: one recent sample per device, in the same order; ignored otherwise.</param>
    /// <returns>The weights, one per device.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="devices"/> or a device is <see langword="null"/>, or <paramref name="samples"/> is <see langword="null"/> for free memory.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="source"/> is not defined.</exception>
    /// <exception cref="ArgumentException"><paramref name="devices"/> is empty; a device lacks the fact the source needs (names <c>devices</c>); <paramref name="samples"/> does not have one sample per device, or a sample lacks memory readings or reports more memory used than total (names <c>samples</c>).</exception>
    public static double[] From(IReadOnlyList<GpuDevice> devices, DeviceWeightSource source, IReadOnlyList<GpuSample>? samples = null)
    {
        ArgumentNullException.ThrowIfNull(devices);
        if (devices.Count == 0)
        {
            throw new ArgumentException("The device set is empty.", nameof(devices));
        }

        if (!Enum.IsDefined(source))
        {
            throw new ArgumentOutOfRangeException(nameof(source), source, "Unknown weight source.");
        }

        if (source == DeviceWeightSource.FreeMemory)
        {
            ArgumentNullException.ThrowIfNull(samples);
            if (samples.Count != devices.Count)
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"Free-memory weights need one sample per device: {samples.Count} samples for {devices.Count} devices."),
                    nameof(samples));
            }
        }

        var weights = new double[devices.Count];
        for (var i = 0; i < weights.Length; i++)
        {
            var device = devices[i] ?? throw new ArgumentNullException(nameof(devices), string.Create(CultureInfo.InvariantCulture, $"devices[{i}] is null."));
            weights[i] = source switch
            {
                DeviceWeightSource.Uniform => 1,
                DeviceWeightSource.TotalMemory => device.TotalMemoryBytes,
                DeviceWeightSource.FreeMemory => FreeMemory(device, samples![i], nameof(samples)),
                _ => Compute(device, nameof(devices)),
            };
        }

        return weights;
    }

    private static double Compute(GpuDevice device, string paramName)
    {
        if (device.MultiprocessorCount is not int sms || device.MaxSmClockMHz is not int clock)
        {
            var missing = device.MultiprocessorCount is null ? "multiprocessor count" : "maximum SM clock";
            throw new ArgumentException(
                $"Device {device} does not report its {missing}; compute weights need the multiprocessor count and the maximum SM clock. Use another weight source.",
                paramName);
        }

        return (double)sms * clock;
    }

    private static double FreeMemory(GpuDevice device, GpuSample sample, string paramName)
    {
        if (sample.MemoryFreeBytes is not long free)
        {
            throw new ArgumentException($"The sample of device {device} has no memory readings; free-memory weights need used and total memory.", paramName);
        }

        if (free < 0)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"The sample of device {device} reports more memory used ({sample.MemoryUsedBytes}) than total ({sample.MemoryTotalBytes})."),
                paramName);
        }

        return free;
    }
}
