using System.Globalization;
using Exo.Gpu.Clustering.Scheduling;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Exo.Gpu.Clustering.Samples.InferenceServer;

/// <summary>
/// <c>POST /infer?gib=N&amp;ms=D</c>: a lease of N GiB on one GPU, taken with a deadline; the "inference" runs D ms on
/// the host's clock and the lease is released. 200 with the device; 503 with <c>Retry-After</c> when no capacity freed
/// in time, when the device was lost mid-run (the lease revoked) or while the server stops; 422 when the request can
/// never fit on this host; 400 for bad arguments.
/// </summary>
internal static class InferEndpoint
{
    private const double BytesPerGiB = 1L << 30;

    /// <summary>The most memory a request may name, in GiB (1 PiB): larger values are refused as arguments, not judged.</summary>
    private const double MaxGiB = 1 << 20;

    public static async Task<IResult> HandleAsync(
        double? gib,
        double? ms,
        [FromServices] GpuClusteringManager manager,
        [FromServices] TimeProvider time,
        [FromServices] IOptions<InferenceOptions> options,
        HttpContext context,
        CancellationToken cancellationToken)
    {
        var settings = options.Value;
        if (gib is not { } memory || !double.IsFinite(memory) || memory <= 0 || memory > MaxGiB)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad argument", detail: string.Create(CultureInfo.InvariantCulture, $"gib must be a number of GiB above 0 and at most {MaxGiB}; got '{context.Request.Query["gib"]}'."));
        }

        if (ms is not { } runMs || !double.IsFinite(runMs) || runMs < 0 || runMs > settings.MaxRunTime.TotalMilliseconds)
        {
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad argument", detail: string.Create(CultureInfo.InvariantCulture, $"ms must be a number of milliseconds from 0 to {settings.MaxRunTime.TotalMilliseconds}; got '{context.Request.Query["ms"]}'."));
        }

        var request = new GpuRequest { MemoryBytes = (long)Math.Ceiling(memory * BytesPerGiB) };
        var asked = time.GetTimestamp();
        GpuLease lease;
        try
        {
            lease = await manager.AcquireAsync(request, settings.AcquireTimeout, cancellationToken);
        }
        catch (GpuLeaseTimeoutException e)
        {
            return Unavailable(context, settings, "No GPU capacity in time", e.Message, new Dictionary<string, object?>
            {
                ["queuePosition"] = e.QueuePosition,
                ["timeoutSeconds"] = e.Timeout.TotalSeconds,
            });
        }
        catch (NoEligibleGpuException e)
        {
            return Results.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "The request can never fit on this host", detail: e.Message);
        }
        catch (ObjectDisposedException)
        {
            return Unavailable(context, settings, "The server is stopping", "The GPU cluster is shutting down; retry on another instance.", null);
        }

        await using (lease)
        {
            var device = lease.Device;
            var waited = time.GetElapsedTime(asked);
            using var run = CancellationTokenSource.CreateLinkedTokenSource(lease.Token, cancellationToken);
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(runMs), time, run.Token);
            }
            catch (OperationCanceledException) when (lease.Token.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                var status = manager.GetStatus(device.Uuid);
                return Unavailable(context, settings, "The GPU was lost mid-run", $"Device {device} became {status.Health} ({status.Reason}) while the request ran; its lease was revoked.", new Dictionary<string, object?>
                {
                    ["device"] = device.Index,
                    ["uuid"] = device.Uuid,
                });
            }

            return Results.Ok(new InferResponse(device.Index, device.Uuid, device.Name, memory, runMs, waited.TotalMilliseconds));
        }
    }

    private static IResult Unavailable(HttpContext context, InferenceOptions settings, string title, string detail, IDictionary<string, object?>? extensions)
    {
        context.Response.Headers.RetryAfter = settings.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: title, detail: detail, extensions: extensions);
    }
}

/// <summary>The answer of a completed <c>/infer</c>.</summary>
/// <param name="Device">The device's index.</param>
/// <param name="Uuid">The device's UUID.</param>
/// <param name="Name">The device's name.</param>
/// <param name="Gib">The memory held, in GiB.</param>
/// <param name="Ms">How long it ran, in ms.</param>
/// <param name="WaitedMs">How long it waited for the lease, in ms.</param>
internal sealed record InferResponse(int Device, string Uuid, string Name, double Gib, double Ms, double WaitedMs);
