using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Exo.Gpu.Clustering.Scheduling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Samples.InferenceServer.Tests;

/// <summary>
/// The sample on a real Kestrel at 127.0.0.1, port 0, on a fake clock: runs, deadlines and fault times are virtual, so
/// nothing sleeps. The poller is off and the test refreshes telemetry at the points it chooses (deterministic); every
/// other setting is the sample's own.
/// </summary>
internal sealed class ServerUnderTest : IAsyncDisposable
{
    /// <summary>How long any await may take before the test fails instead of hanging: a guard, never a timing.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private readonly MetricCollector<long> _granted;
    private readonly MetricCollector<long> _queued;
    private bool _stopped;

    private ServerUnderTest(WebApplication app, ObservedClock time, Uri address)
    {
        App = app;
        Time = time;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = Guard };
        var meters = app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        _granted = new MetricCollector<long>(meters, GpuClusteringManager.MeterName, "exo.gpu.lease.granted");
        _queued = new MetricCollector<long>(meters, GpuClusteringManager.MeterName, "exo.gpu.lease.queue.depth");
        Manager = app.Services.GetRequiredService<GpuClusteringManager>();
        Selector = Manager.Selector;
    }

    public WebApplication App { get; }

    public ObservedClock Time { get; }

    public Uri Address { get; }

    public HttpClient Client { get; }

    public GpuClusteringManager Manager { get; }

    /// <summary>The manager's selector, kept to read the lease counters after the host has stopped.</summary>
    public DeviceSelector Selector { get; }

    /// <summary>Starts the sample with its settings overridden by <paramref name="settings"/> (configuration keys).</summary>
    public static Task<ServerUnderTest> StartAsync(params (string Key, string? Value)[] settings) =>
        StartCoreAsync(sampleSettings: false, settings);

    /// <summary>Starts the sample on its own <c>appsettings.json</c>, with only the poller turned off.</summary>
    public static Task<ServerUnderTest> StartWithSampleSettingsAsync() => StartCoreAsync(sampleSettings: true, []);

    private static async Task<ServerUnderTest> StartCoreAsync(bool sampleSettings, (string Key, string? Value)[] settings)
    {
        var time = new ObservedClock(new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var overrides = sampleSettings
            ? new Dictionary<string, string?> { ["GpuClustering:EnablePoller"] = "false" }
            : new Dictionary<string, string?>
            {
                ["GpuClustering:BackendChoice"] = "Simulated",
                ["GpuClustering:SimulatedOptions:DeviceCount"] = "8",
                ["GpuClustering:SimulatedOptions:Profile"] = "Homogeneous",
                ["GpuClustering:EnablePoller"] = "false",
            };
        foreach (var (key, value) in settings)
        {
            overrides[key] = value;
        }

        var app = InferenceServerApp.Create(["--urls", "http://127.0.0.1:0", "--contentRoot", AppContext.BaseDirectory], builder =>
        {
            builder.Configuration.AddInMemoryCollection(overrides);
            builder.Services.AddSingleton<TimeProvider>(time);
            builder.Logging.ClearProviders();
        });
        using var cts = new CancellationTokenSource(Guard);
        await app.StartAsync(cts.Token);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new ServerUnderTest(app, time, new Uri(address));
    }

    /// <summary>Posts <c>/infer</c>.</summary>
    public Task<HttpResponseMessage> InferAsync(double gib, double ms) =>
        Client.PostAsync(FormattableString.Invariant($"/infer?gib={gib}&ms={ms}"), content: null);

    /// <summary>Completes once <paramref name="count"/> leases have been granted since the start (a signal from the metrics, not a poll).</summary>
    public Task WhenGrantedAsync(int count) => _granted.WaitForMeasurementsAsync(count, Guard);

    /// <summary>Completes once <paramref name="count"/> requests have been queued since the start.</summary>
    public Task WhenQueuedAsync(int count) => _queued.WaitForMeasurementsAsync(count, Guard);

    /// <summary>Completes once <paramref name="count"/> runs of <paramref name="ms"/> have begun (their delays exist on the clock).</summary>
    public Task WhenRunningAsync(int count, double ms) => Time.WhenCreatedAsync(TimeSpan.FromMilliseconds(ms), count);

    /// <summary>Completes once <paramref name="count"/> requests wait with a deadline of <paramref name="timeout"/> on the clock.</summary>
    public Task WhenDeadlinesAsync(int count, TimeSpan timeout) => Time.WhenCreatedAsync(timeout, count);

    /// <summary>Reads telemetry now, as the poller would, and waits until its health changes have been applied (revocations included).</summary>
    public Task RefreshAsync() => Manager.RefreshTelemetryAsync().WaitAsync(Guard);

    /// <summary>Moves the clock on in steps of at most a second, reading telemetry after each, as a poller would.</summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        var step = TimeSpan.FromSeconds(1);
        while (by > TimeSpan.Zero)
        {
            var d = by < step ? by : step;
            Time.Advance(d);
            by -= d;
            if (Manager.IsRunning)
            {
                await RefreshAsync();
            }
        }
    }

    /// <summary>Stops the host; completes once stop has begun and Kestrel has stopped accepting connections.</summary>
    public async Task<Task> BeginStopAsync()
    {
        var lifetime = App.Services.GetRequiredService<IHostApplicationLifetime>();
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = lifetime.ApplicationStopping.Register(() => stopping.TrySetResult());
        _stopped = true;
        var stop = App.StopAsync(CancellationToken.None);
        await stopping.Task.WaitAsync(Guard);
        var deadline = DateTime.UtcNow + Guard;
        while (await AcceptsConnectionsAsync())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Kestrel still accepts connections after the stop began.");
            }

            await Task.Yield();
        }

        return stop;
    }

    /// <summary>GET a JSON document.</summary>
    public async Task<JsonDocument> GetJsonAsync(string path)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        _granted.Dispose();
        _queued.Dispose();
        if (!_stopped)
        {
            // Past any run and the drain timeout, even one armed after an advance (a test that failed holding a lease).
            var stop = App.StopAsync(CancellationToken.None);
            var deadline = DateTime.UtcNow + Guard;
            while (!stop.IsCompleted && DateTime.UtcNow < deadline)
            {
                Time.Advance(TimeSpan.FromMinutes(1));
                await Task.WhenAny(stop, Task.Delay(10));
            }

            await stop.WaitAsync(Guard);
        }

        await App.DisposeAsync();
    }

    private async Task<bool> AcceptsConnectionsAsync()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Address.Port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>What an <c>/infer</c> answered.</summary>
internal sealed record InferOutcome(HttpStatusCode Status, string? RetryAfter, JsonElement Body)
{
    public static async Task<InferOutcome> ReadAsync(Task<HttpResponseMessage> pending)
    {
        using var response = await pending.WaitAsync(ServerUnderTest.Guard);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return new InferOutcome(response.StatusCode, response.Headers.RetryAfter?.ToString(), body);
    }
}
