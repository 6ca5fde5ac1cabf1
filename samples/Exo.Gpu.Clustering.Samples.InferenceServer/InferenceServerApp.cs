using Exo.Gpu.Clustering.Scheduling;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;

namespace Exo.Gpu.Clustering.Samples.InferenceServer;

/// <summary>Builds the server: the GPU cluster from configuration, its health check and metrics, and the endpoints.</summary>
internal static class InferenceServerApp
{
    /// <summary>Creates the application (not started).</summary>
    /// <param name="args">The command line (configuration keys too, e.g. <c>--GpuClustering:SimulatedOptions:DeviceCount=4</c>).</param>
    /// <param name="configure">Changes the builder before the application is built (tests: a fake clock, a loopback address).</param>
    /// <returns>The application.</returns>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.TryAddSingleton(TimeProvider.System);

        // The manager: bound from "GpuClustering", validated on start, started before and drained after every other
        // hosted service (Kestrel included), so requests in flight at shutdown complete on a live cluster.
        builder.Services.AddGpuClustering(builder.Configuration.GetSection("GpuClustering"));
        builder.Services.AddHealthChecks().AddGpuClusteringHealthCheck();
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddGpuClusteringInstrumentation()
            .AddPrometheusExporter());

        builder.Services.AddOptions<InferenceOptions>()
            .Bind(builder.Configuration.GetSection(InferenceOptions.Section))
            .Validate(o => o.AcquireTimeout >= TimeSpan.Zero && o.AcquireTimeout <= DeviceSelector.MaxAcquireTimeout, "Inference:AcquireTimeout must be 0 or more and at most DeviceSelector.MaxAcquireTimeout.")
            .Validate(o => o.RetryAfter > TimeSpan.Zero, "Inference:RetryAfter must be more than 0.")
            .Validate(o => o.MaxRunTime > TimeSpan.Zero, "Inference:MaxRunTime must be more than 0.")
            .ValidateOnStart();

        configure?.Invoke(builder);
        var app = builder.Build();

        app.MapPost("/infer", InferEndpoint.HandleAsync);
        app.MapGet("/gpus", GpusEndpoint.Handle);
        app.MapHealthChecks("/healthz", new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
