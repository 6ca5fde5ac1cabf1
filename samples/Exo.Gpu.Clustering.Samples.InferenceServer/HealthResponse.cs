using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Exo.Gpu.Clustering.Samples.InferenceServer;

/// <summary>
/// Writes <c>/healthz</c> as JSON: the overall status and each check's status, description and data (the GPU check puts
/// every device's health and reason there). The status code stays ASP.NET Core's: 200 for Healthy and Degraded, 503 for
/// Unhealthy.
/// </summary>
internal static class HealthResponse
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new
                {
                    status = e.Value.Status.ToString(),
                    description = e.Value.Description,
                    data = e.Value.Data.ToDictionary(d => d.Key, d => d.Value?.ToString()),
                }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body), context.RequestAborted);
    }
}
