using System.Globalization;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// The one routine that reads a device: a reading with a deadline, validated, and every failure classified. Used by
/// the poller's ticks, the manager's start and rediscovery, and the one-shot snapshot, so they all judge a device's
/// answer the same way.
/// </summary>
/// <remarks>
/// A call that outlives its deadline is abandoned: its token is cancelled at once (synchronously, so a well-behaved
/// backend has returned before the next tick) and the still-running call is handed back in
/// <see cref="ProbeResult.Pending"/>, so a caller never starts a second call on a device whose first has not returned.
/// </remarks>
internal static class DeviceProbe
{
    /// <summary>Reads <paramref name="device"/> once.</summary>
    /// <param name="backend">The backend that owns the device.</param>
    /// <param name="device">The device.</param>
    /// <param name="timeout">How long the backend may take.</param>
    /// <param name="time">The clock of the deadline.</param>
    /// <param name="stop">The caller's cancellation: it ends the reading as <see cref="PollResult.Canceled"/>.</param>
    /// <returns>How the reading ended; never throws for the device's failures.</returns>
    public static ValueTask<ProbeResult> ReadAsync(IGpuBackend backend, GpuDevice device, TimeSpan timeout, TimeProvider time, CancellationToken stop)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
        ValueTask<GpuSample> pending;
        try
        {
            pending = backend.SampleAsync(device, cts.Token);
        }
#pragma warning disable CA1031 // A backend that throws synchronously fails this reading like any other failure.
        catch (Exception e)
#pragma warning restore CA1031
        {
            cts.Dispose();
            return new ValueTask<ProbeResult>(Classify(e, device, timeout, stop));
        }

        if (pending.IsCompletedSuccessfully)
        {
            // The common case (the NVML backend without a cancellable token, the simulated cluster): no task, no timer.
            cts.Dispose();
            return new ValueTask<ProbeResult>(Validated(pending.Result, device));
        }

        return WaitAsync(pending.AsTask(), cts, device, timeout, time, stop);
    }

    private static async ValueTask<ProbeResult> WaitAsync(
        Task<GpuSample> call, CancellationTokenSource cts, GpuDevice device, TimeSpan timeout, TimeProvider time, CancellationToken stop)
    {
        ProbeResult result;
        try
        {
            var sample = await call.WaitAsync(timeout, time, stop).ConfigureAwait(false);
            result = Validated(sample, device);
        }
        catch (TimeoutException)
        {
            // Tell the backend to give up now, synchronously, so a well-behaved call has returned before the next tick.
#pragma warning disable CA1849 // CancelAsync would defer the backend's cancellation to another thread.
            cts.Cancel();
#pragma warning restore CA1849
            result = TimedOut(device, timeout);
        }
#pragma warning disable CA1031 // Every failure of one device is classified, never thrown.
        catch (Exception e)
#pragma warning restore CA1031
        {
            result = Classify(e, device, timeout, stop);
        }

        if (!call.IsCompleted)
        {
            _ = call.ContinueWith(static (_, s) => ((CancellationTokenSource)s!).Dispose(), cts, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return result with { Pending = call };
        }

        cts.Dispose();
        return result;
    }

    private static ProbeResult Validated(in GpuSample sample, GpuDevice device)
    {
        try
        {
            SampleValidator.Validate(sample, device.TotalMemoryBytes);
            return new ProbeResult(PollResult.Sampled, sample, null, null);
        }
        catch (GpuSampleValidationException e)
        {
            return Invalid(e);
        }
    }

    private static ProbeResult Classify(Exception e, GpuDevice device, TimeSpan timeout, CancellationToken stop) => e switch
    {
        OperationCanceledException when stop.IsCancellationRequested => new ProbeResult(PollResult.Canceled, default, null, e),
        TimeoutException => TimedOut(device, timeout),
        GpuDeviceLostException lost => new ProbeResult(PollResult.Lost, default, lost.Message, lost),
        GpuSamplingException failed => new ProbeResult(PollResult.Failed, default, failed.ErrorName is null ? failed.Message : $"{failed.Message} ({failed.ErrorName})", failed),
        GpuSampleValidationException invalid => Invalid(invalid),
        _ => new ProbeResult(PollResult.Failed, default, e.Message, e) { Unexpected = true },
    };

    private static ProbeResult Invalid(GpuSampleValidationException e) => new(PollResult.Failed, default, "invalid reading: " + e.Message, e);

    private static ProbeResult TimedOut(GpuDevice device, TimeSpan timeout)
    {
        var failure = string.Create(CultureInfo.InvariantCulture, $"no reading within {timeout.TotalMilliseconds:0.###} ms");
        return new ProbeResult(PollResult.TimedOut, default, failure, new TimeoutException($"Device {device.Uuid} gave no reading within {timeout}."));
    }
}
