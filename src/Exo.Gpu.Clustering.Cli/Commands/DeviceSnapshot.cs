using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary>One device's row in <c>status</c>: its facts, its reading (if any) and its health.</summary>
internal sealed record DeviceSnapshot(GpuDevice Device, GpuSample? Sample, GpuHealth Health, string? Error)
{
    /// <summary>
    /// Reads every device once. A device whose reading fails keeps its row: Lost when the backend says so,
    /// Unknown with the error otherwise.
    /// </summary>
    public static async Task<IReadOnlyList<DeviceSnapshot>> TakeAsync(IGpuBackend backend, CancellationToken cancellationToken)
    {
        var devices = await backend.DiscoverAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<DeviceSnapshot>(devices.Count);
        foreach (var device in devices)
        {
            try
            {
                var sample = await backend.SampleAsync(device, cancellationToken).ConfigureAwait(false);
                rows.Add(new DeviceSnapshot(device, sample, GpuHealth.Healthy, null));
            }
            catch (GpuDeviceLostException e)
            {
                rows.Add(new DeviceSnapshot(device, null, GpuHealth.Lost, e.Message));
            }
            catch (GpuSamplingException e)
            {
                rows.Add(new DeviceSnapshot(device, null, GpuHealth.Unknown, e.Message));
            }
        }

        return rows;
    }
}
