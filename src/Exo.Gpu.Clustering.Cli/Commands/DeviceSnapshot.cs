using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering.Cli.Commands;

/// <summary>One device's row in <c>status</c>: its facts, its reading (if any) and its health.</summary>
internal sealed record DeviceSnapshot(GpuDevice Device, GpuSample? Sample, GpuHealth Health, string? Error)
{
    /// <summary>
    /// Reads every device once and judges its health with the telemetry collector's rules (temperature, power,
    /// ECC, hardware slowdown, staleness), as a running cluster would on its first reading. A device whose reading
    /// fails keeps its row: Lost when the backend says so, Unknown with the error otherwise.
    /// </summary>
    /// <summary>How long one device may take to answer before its row says it gave no reading.</summary>
    public static readonly TimeSpan SampleTimeout = TimeSpan.FromSeconds(2);

    public static async Task<IReadOnlyList<DeviceSnapshot>> TakeAsync(IGpuBackend backend, TimeProvider time, CancellationToken cancellationToken)
    {
        var devices = await backend.DiscoverAsync(cancellationToken).ConfigureAwait(false);
        if (devices.Count == 0)
        {
            return [];
        }

        await using var collector = new TelemetryCollector(devices, timeProvider: time);
        var errors = new string?[devices.Count];
        for (var i = 0; i < devices.Count; i++)
        {
            using var deadline = new CancellationTokenSource(SampleTimeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
            try
            {
                var sample = await backend.SampleAsync(devices[i], linked.Token).ConfigureAwait(false);
                collector.RecordAt(i, sample);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                errors[i] = $"no reading within {SampleTimeout.TotalSeconds:0.#} s";
                collector.RecordFailure(i, errors[i]!);
            }
            catch (GpuDeviceLostException e)
            {
                collector.MarkLost(i, e.Message);
                errors[i] = e.Message;
            }
            catch (GpuSamplingException e)
            {
                collector.RecordFailure(i, e.Message);
                errors[i] = e.Message;
            }
            catch (GpuSampleValidationException e)
            {
                collector.RecordFailure(i, e.Message);
                errors[i] = e.Message;
            }
        }

        var statuses = collector.GetStatuses();
        var rows = new List<DeviceSnapshot>(devices.Count);
        for (var i = 0; i < devices.Count; i++)
        {
            var status = statuses[i];
            rows.Add(new DeviceSnapshot(devices[i], errors[i] is null ? status.Latest : null, status.Health, errors[i]));
        }

        return rows;
    }
}
