using System.Net;
using System.Text.RegularExpressions;
using Exo.Gpu.Clustering.Scheduling;

namespace Exo.Gpu.Clustering.Samples.InferenceServer.Tests;

/// <summary>The sample end to end: HTTP on loopback, the GPU cluster behind it, in virtual time.</summary>
public class InferenceServerTests
{
    [Fact]
    public async Task Infer_BoundedBurstOf80ConcurrentRequests_64ServedOnEveryDeviceAndTheRest503WithRetryAfter()
    {
        // 8 devices x 8 leases = 64 slots. 80 requests of 1 GiB for 5 s (virtual): 64 are granted at once, spread 8 per
        // device; 16 wait, and after the 1.5 s deadline they are answered 503 with Retry-After and their queue position.
        await using var server = await ServerUnderTest.StartAsync(
            ("GpuClustering:Selector:MaxLeasesPerDevice", "8"),
            ("Inference:AcquireTimeout", "00:00:01.5"),
            ("Inference:RetryAfter", "00:00:02"));
        var pending = Enumerable.Range(0, 80).Select(_ => InferOutcome.ReadAsync(server.InferAsync(gib: 1, ms: 5000))).ToArray();
        await server.WhenGrantedAsync(64);
        await server.WhenQueuedAsync(16);
        await server.WhenRunningAsync(64, ms: 5000);
        await server.WhenDeadlinesAsync(16, TimeSpan.FromSeconds(1.5));

        await server.AdvanceAsync(TimeSpan.FromSeconds(1.5));
        await server.AdvanceAsync(TimeSpan.FromSeconds(3.5));
        var outcomes = await Task.WhenAll(pending).WaitAsync(ServerUnderTest.Guard);

        var served = outcomes.Where(o => o.Status == HttpStatusCode.OK).ToArray();
        var refused = outcomes.Where(o => o.Status == HttpStatusCode.ServiceUnavailable).ToArray();
        served.Should().HaveCount(64);
        refused.Should().HaveCount(16);
        served.GroupBy(o => o.Body.GetProperty("device").GetInt32()).Should().HaveCount(8).And.OnlyContain(g => g.Count() == 8, "the default strategy spreads work in flight");
        refused.Should().OnlyContain(o => o.RetryAfter == "2");
        refused.Select(o => o.Body.GetProperty("queuePosition").GetInt32()).Should().OnlyContain(p => p >= 1 && p <= 16);
        refused.Select(o => o.Body.GetProperty("detail").GetString()).Should().OnlyContain(d => d!.StartsWith("No lease within 1.5 s for the request (1 device × 1 GiB)", StringComparison.Ordinal));
        server.Manager.GetLeaseSnapshot().ActiveLeases.Should().Be(0);
        server.Manager.GetLeaseSnapshot().Waiters.Should().Be(0);
    }

    [Fact]
    public async Task SampleSettings_AppsettingsJson_ASimulatedClusterOf8H100sWithACapOf8LeasesPerDevice()
    {
        await using var server = await ServerUnderTest.StartWithSampleSettingsAsync();
        using var gpus = await server.GetJsonAsync("/gpus");
        gpus.RootElement.GetProperty("backend").GetString().Should().Be("Simulated");
        gpus.RootElement.GetProperty("devices").EnumerateArray().Should().HaveCount(8)
            .And.OnlyContain(d => d.GetProperty("name").GetString()!.Contains("H100", StringComparison.Ordinal));
        var pinned = new GpuRequest { MemoryBytes = 1L << 30, IncludeIndexes = [0] };
        var held = new List<GpuLease>();
        for (var i = 0; i < 8; i++)
        {
            server.Manager.TryAcquire(pinned, out var lease).Should().BeTrue();
            held.Add(lease);
        }

        server.Manager.TryAcquire(pinned, out _).Should().BeFalse("Selector:MaxLeasesPerDevice is 8 in appsettings.json");
        held.ForEach(l => l.Dispose());
    }

    [Fact]
    public async Task Infer_RequestThatCanNeverFit_Answers422AtOnce()
    {
        await using var server = await ServerUnderTest.StartAsync();
        var outcome = await InferOutcome.ReadAsync(server.InferAsync(gib: 200, ms: 10));
        outcome.Status.Should().Be(HttpStatusCode.UnprocessableEntity);
        outcome.Body.GetProperty("detail").GetString().Should().StartWith("No device satisfies the request (1 device × 200 GiB); nearest: ");
    }

    [Theory]
    [InlineData("/infer?gib=0&ms=10", "gib")]
    [InlineData("/infer?gib=-1&ms=10", "gib")]
    [InlineData("/infer?ms=10", "gib")]
    [InlineData("/infer?gib=1&ms=-5", "ms")]
    [InlineData("/infer?gib=1&ms=60001", "ms")]
    [InlineData("/infer?gib=1", "ms")]
    public async Task Infer_BadArguments_Answer400NamingTheArgument(string path, string argument)
    {
        await using var server = await ServerUnderTest.StartAsync();
        using var response = await server.Client.PostAsync(new Uri(path, UriKind.Relative), content: null);
        response.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).Should().Contain($"{argument} must be");
        server.Manager.GetLeaseSnapshot().Granted.Should().Be(0);
    }

    [Fact]
    public async Task Gpus_ListsEveryDeviceWithItsHealthAndLeases()
    {
        await using var server = await ServerUnderTest.StartAsync();
        var running = InferOutcome.ReadAsync(server.InferAsync(gib: 4, ms: 1234));
        await server.WhenRunningAsync(1, ms: 1234);
        using var gpus = await server.GetJsonAsync("/gpus");
        gpus.RootElement.GetProperty("backend").GetString().Should().Be("Simulated");
        var devices = gpus.RootElement.GetProperty("devices").EnumerateArray().ToArray();
        devices.Should().HaveCount(8);
        devices.Should().OnlyContain(d => d.GetProperty("health").GetString() == "Healthy");
        devices.Sum(d => d.GetProperty("activeLeases").GetInt32()).Should().Be(1);
        devices.Sum(d => d.GetProperty("reservedBytes").GetInt64()).Should().Be(4L << 30);
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(1234));
        (await running.WaitAsync(ServerUnderTest.Guard)).Status.Should().Be(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Metrics_AfterTraffic_HwGpuAndLeaseSeriesInValidPrometheusTextFormat()
    {
        await using var server = await ServerUnderTest.StartAsync();
        var runs = Enumerable.Range(0, 4).Select(_ => InferOutcome.ReadAsync(server.InferAsync(gib: 2, ms: 100))).ToArray();
        await server.WhenRunningAsync(4, ms: 100);
        await server.AdvanceAsync(TimeSpan.FromMilliseconds(100));
        (await Task.WhenAll(runs)).Should().OnlyContain(o => o.Status == HttpStatusCode.OK);

        using var response = await server.Client.GetAsync(new Uri("/metrics", UriKind.Relative));
        response.StatusCode.Should().Be(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/plain");
        var text = await response.Content.ReadAsStringAsync();

        var samples = PrometheusText.Validate(text);
        samples.Keys.Should().Contain(k => k.StartsWith("hw_gpu_utilization", StringComparison.Ordinal))
            .And.Contain(k => k.StartsWith("hw_gpu_memory_usage", StringComparison.Ordinal))
            .And.Contain(k => k.StartsWith("hw_gpu_memory_limit", StringComparison.Ordinal))
            .And.Contain(k => k.StartsWith("exo_gpu_lease_granted", StringComparison.Ordinal))
            .And.Contain(k => k.StartsWith("exo_gpu_lease_wait_duration", StringComparison.Ordinal));
        samples.Single(p => p.Key.StartsWith("exo_gpu_lease_granted", StringComparison.Ordinal)).Value.Sum().Should().Be(4);
        samples.Where(p => p.Key.StartsWith("hw_gpu_memory_limit", StringComparison.Ordinal)).SelectMany(p => p.Value).Should().HaveCount(8, "one series per device");
        text.Should().Contain("hw_id=\"GPU-");
    }

    [Fact]
    public async Task DeviceLost_HealthzTurnsDegradedAndTheHeldRequestAnswers503()
    {
        // The fault plan loses device 3 at 10 s. Eight long runs hold one lease on each device; when the loss is read,
        // the lease on device 3 is revoked: that request answers 503 with Retry-After, the other seven complete.
        await using var server = await ServerUnderTest.StartAsync(("GpuClustering:SimulatedOptions:Faults", "lost:3@10s"));
        var runs = Enumerable.Range(0, 8).Select(_ => InferOutcome.ReadAsync(server.InferAsync(gib: 1, ms: 30_000))).ToArray();
        await server.WhenRunningAsync(8, ms: 30_000);
        using (var before = await server.GetJsonAsync("/healthz"))
        {
            before.RootElement.GetProperty("status").GetString().Should().Be("Healthy");
        }

        await server.AdvanceAsync(TimeSpan.FromSeconds(11));

        using var response = await server.Client.GetAsync(new Uri("/healthz", UriKind.Relative));
        response.StatusCode.Should().Be(HttpStatusCode.OK, "a degraded cluster still serves");
        var health = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        health.GetProperty("status").GetString().Should().Be("Degraded");
        health.GetProperty("checks").GetProperty("gpu").GetProperty("status").GetString().Should().Be("Degraded");

        var lost = await await Task.WhenAny(runs).WaitAsync(ServerUnderTest.Guard); // only the revoked run can end before 30 s
        lost.Status.Should().Be(HttpStatusCode.ServiceUnavailable);
        lost.RetryAfter.Should().Be("1");
        lost.Body.GetProperty("device").GetInt32().Should().Be(3);
        lost.Body.GetProperty("title").GetString().Should().Be("The GPU was lost mid-run");

        await server.AdvanceAsync(TimeSpan.FromSeconds(20));
        var outcomes = await Task.WhenAll(runs).WaitAsync(ServerUnderTest.Guard);
        outcomes.Count(o => o.Status == HttpStatusCode.OK).Should().Be(7);
        outcomes.Where(o => o.Status == HttpStatusCode.OK).Should().OnlyContain(o => o.Body.GetProperty("device").GetInt32() != 3);
        server.Manager.GetLeaseSnapshot().Revoked.Should().Be(1);
    }

    [Fact]
    public async Task Stop_WithRequestsInFlight_TheyCompleteAndNothingIsRevoked()
    {
        await using var server = await ServerUnderTest.StartAsync();
        var runs = Enumerable.Range(0, 8).Select(_ => InferOutcome.ReadAsync(server.InferAsync(gib: 1, ms: 5000))).ToArray();
        await server.WhenRunningAsync(8, ms: 5000);

        // Kestrel no longer accepts connections: the host is stopping, and the cluster must still be serving the runs.
        var stopped = await server.BeginStopAsync();
        server.Manager.IsRunning.Should().BeTrue("the cluster stops after every other hosted service");
        await server.AdvanceAsync(TimeSpan.FromSeconds(5));

        (await Task.WhenAll(runs).WaitAsync(ServerUnderTest.Guard)).Should().OnlyContain(o => o.Status == HttpStatusCode.OK);
        await stopped.WaitAsync(ServerUnderTest.Guard);
        server.Manager.IsRunning.Should().BeFalse();
        var leases = server.Selector.GetSnapshot();
        leases.Granted.Should().Be(8);
        leases.Released.Should().Be(8);
        leases.Revoked.Should().Be(0, "nothing was revoked: the runs finished before the cluster stopped");
    }
}

/// <summary>A strict reader of the Prometheus text exposition format (version 0.0.4).</summary>
internal static partial class PrometheusText
{
    /// <summary>Checks every line and returns the samples' values by series name (the metric name with its suffix).</summary>
    public static Dictionary<string, List<double>> Validate(string text)
    {
        text.Should().EndWith("\n", "the format ends every line, the last included, with a line feed");
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n')[..^1])
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                parts.Should().HaveCount(4, line);
                MetricName().IsMatch(parts[2]).Should().BeTrue(line);
                parts[3].Should().BeOneOf(["counter", "gauge", "histogram", "summary", "untyped"], line);
                types.Should().NotContainKey(parts[2], "a family is typed once");
                types[parts[2]] = parts[3];
                continue;
            }

            if (line.StartsWith('#') || line.Length == 0)
            {
                continue; // HELP, other comments, or the final EOF marker of OpenMetrics (not in 0.0.4)
            }

            var match = Sample().Match(line);
            match.Success.Should().BeTrue($"'{line}' is a sample line");
            var name = match.Groups["name"].Value;
            types.Keys.Should().Contain(f => name == f || name.StartsWith(f + "_", StringComparison.Ordinal), $"the family of {name} was typed before its samples");
            var value = match.Groups["value"].Value;
            var parsed = value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                _ => double.Parse(value, System.Globalization.CultureInfo.InvariantCulture),
            };
            if (!samples.TryGetValue(name, out var list))
            {
                samples[name] = list = [];
            }

            list.Add(parsed);
        }

        return samples;
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*,?)?\})? (?<value>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]Inf|NaN)( -?\d+)?$""")]
    private static partial Regex Sample();
}
