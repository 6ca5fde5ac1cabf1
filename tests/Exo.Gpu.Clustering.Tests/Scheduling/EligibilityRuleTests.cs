using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using FluentAssertions.Execution;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

/// <summary>
/// Every eligibility rule, failed and passed: the explanation's reasons for the device are non-empty exactly when
/// Select, SelectDevices, TryAcquire and AcquireAsync reject it, and a failed rule gives its own reason.
/// </summary>
public class EligibilityRuleTests
{
    /// <summary>A case: the request, how device 0 is set up, and the reason device 0 gets (<see langword="null"/>: it is eligible).</summary>
    internal sealed record RuleCase(string Name, GpuRequest Request, string? Reason, Action<FakeDeviceStateSource>? Arrange = null, DeviceSelectorOptions? Options = null, GpuRequest? Held = null)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<string> CaseNames
    {
        get
        {
            var names = new TheoryData<string>();
            foreach (var c in Cases)
            {
                names.Add(c.Name);
            }

            return names;
        }
    }

    private static RuleCase[] Cases =>
    [
        new("identity: excluded index", new GpuRequest { ExcludeIndexes = [0] }, "excluded by index 0"),
        new("identity: another index excluded", new GpuRequest { ExcludeIndexes = [1] }, null),
        new("identity: excluded UUID", new GpuRequest { ExcludeUuids = [Uuid(0)] }, "excluded by UUID"),
        new("identity: not included", new GpuRequest { IncludeIndexes = [1] }, "not in the include lists"),
        new("identity: included by UUID", new GpuRequest { IncludeUuids = [Uuid(0)], IncludeIndexes = [1] }, null),
        new("model: name", new GpuRequest { NamePattern = "A100" }, "name 'NVIDIA H100 80GB HBM3' does not match 'A100'"),
        new("model: name glob", new GpuRequest { NamePattern = "*h100*" }, null),
        new("model: compute below min", new GpuRequest { MinComputeCapability = new(9, 1) }, "compute capability 9.0 < 9.1"),
        new("model: compute above max", new GpuRequest { MaxComputeCapability = new(8, 9) }, "compute capability 9.0 > 8.9"),
        new("model: compute at min", new GpuRequest { MinComputeCapability = new(9, 0) }, null),
        new("model: compute unknown", new GpuRequest { MinComputeCapability = new(7, 0) }, "compute capability unknown", s => s.Replace(0, new GpuDevice(Uuid(0), 0, "NVIDIA H100 80GB HBM3", 80 * GiB, GpuBackendKind.Simulated))),
        new("capacity: larger than capacity", new GpuRequest { MemoryBytes = 80 * GiB }, "needs 80 GiB, capacity 79.5 GiB (80 GiB total − 512 MiB headroom)"),
        new("capacity: exactly capacity", new GpuRequest { MemoryBytes = 79 * GiB + (GiB / 2) }, null),
        new("health: unhealthy", new GpuRequest(), "health Unhealthy", s => s.Set(0, s.GetState(0) with { Health = GpuHealth.Unhealthy })),
        new("health: degraded", new GpuRequest(), "health Degraded (the request allows only Healthy)", s => s.Set(0, s.GetState(0) with { Health = GpuHealth.Degraded })),
        new("health: degraded allowed", new GpuRequest { AllowDegraded = true }, null, s => s.Set(0, s.GetState(0) with { Health = GpuHealth.Degraded })),
        new("freshness: no reading", new GpuRequest(), "no telemetry reading yet", s => s.Set(0, new DeviceState(GpuHealth.Healthy, false, default, TimeSpan.MaxValue))),
        new("freshness: stale", new GpuRequest(), "telemetry stale (last reading 30 s old)", s => s.Set(0, new DeviceState(GpuHealth.Healthy, false, default, TimeSpan.FromSeconds(30)))),
        new("freshness: too old for the request", new GpuRequest { MaxTelemetryAge = TimeSpan.FromSeconds(1) }, "telemetry 2 s old, the request allows 1 s", s => s.Set(0, Healthy(Sample(), TimeSpan.FromSeconds(2)))),
        new("freshness: at the request's limit", new GpuRequest { MaxTelemetryAge = TimeSpan.FromSeconds(2) }, null, s => s.Set(0, Healthy(Sample(), TimeSpan.FromSeconds(2)))),
        new("hot: at the hot limit", new GpuRequest(), "temperature 85 °C >= hot limit 85 °C", s => s.SetSample(0, Sample(tempC: 85))),
        new("hot: below the hot limit", new GpuRequest(), null, s => s.SetSample(0, Sample(tempC: 84.9))),
        new("hot: temperature not reported", new GpuRequest(), null, s => s.SetSample(0, Sample(tempC: null))),
        new("temperature: above max", new GpuRequest { MaxTemperatureC = 50 }, "temperature 60 °C > max 50 °C", s => s.SetSample(0, Sample(tempC: 60))),
        new("temperature: at max", new GpuRequest { MaxTemperatureC = 60 }, null, s => s.SetSample(0, Sample(tempC: 60))),
        new("temperature: not reported", new GpuRequest { MaxTemperatureC = 60 }, "temperature not reported (the request limits it)", s => s.SetSample(0, Sample(tempC: null))),
        new("utilization: above max", new GpuRequest { MaxUtilizationPercent = 50 }, "utilization 70 % > max 50 %", s => s.SetSample(0, Sample(util: 70))),
        new("utilization: at max", new GpuRequest { MaxUtilizationPercent = 70 }, null, s => s.SetSample(0, Sample(util: 70))),
        new("utilization: not reported", new GpuRequest { MaxUtilizationPercent = 70 }, "utilization not reported (the request limits it)", s => s.SetSample(0, Sample(util: null))),
        new("room: observed memory in use", new GpuRequest { MemoryBytes = 20 * GiB }, "needs 20 GiB, 11.5 GiB free after reservations (0 B reserved of 79.5 GiB capacity, 12 GiB free observed)", s => s.SetSample(0, Sample(usedBytes: 68 * GiB))),
        new("room: below the headroom", new GpuRequest(), "needs 0 B, 0 B free after reservations (0 B reserved of 79.5 GiB capacity, 256 MiB free observed, below the 512 MiB headroom)", s => s.SetSample(0, Sample(usedBytes: 80 * GiB - (GiB / 4)))),
        new("room: reserved by a lease", new GpuRequest { MemoryBytes = 20 * GiB }, "needs 20 GiB, 9.5 GiB free after reservations (70 GiB reserved of 79.5 GiB capacity, 80 GiB free observed)", Held: new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }),
        new("room: what is left after a lease", new GpuRequest { MemoryBytes = 9 * GiB }, null, Held: new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }),
        new("slots: all in use", new GpuRequest(), "all 1 concurrency slots in use", Options: new DeviceSelectorOptions { MaxLeasesPerDevice = 1, Seed = 1 }, Held: new GpuRequest { IncludeIndexes = [0] }),
        new("slots: one free", new GpuRequest(), null, Options: new DeviceSelectorOptions { MaxLeasesPerDevice = 2, Seed = 1 }, Held: new GpuRequest { IncludeIndexes = [0] }),
    ];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task EveryEntryPoint_EachRule_RejectsExactlyWhenTheExplanationGivesAReason(string name)
    {
        var rule = Cases.Single(c => c.Name == name);
        using var scope = new AssertionScope(rule.Name);

        // Device 0 is judged; device 1 is lost, so it never qualifies and whatever the entry points choose is device 0.
        var source = Uniform(2);
        source.Set(1, source.GetState(1) with { Health = GpuHealth.Lost });
        rule.Arrange?.Invoke(source);
        var selector = Selectors.Create(source, rule.Options);
        if (rule.Held is { } held)
        {
            selector.TryAcquire(held, out _).Should().BeTrue();
        }

        var verdict = selector.Explain(rule.Request).Devices[0];
        if (rule.Reason is null)
        {
            verdict.Reasons.Should().BeEmpty();
        }
        else
        {
            verdict.Reasons.Should().Equal(rule.Reason);
        }

        var rejected = verdict.Reasons.Count > 0;
        verdict.Eligible.Should().Be(!rejected);

        // Select and SelectDevices (no lease).
        if (rejected)
        {
            selector.Invoking(s => s.Select(rule.Request)).Should().Throw<NoEligibleGpuException>();
            selector.Invoking(s => s.SelectDevices(rule.Request)).Should().Throw<NoEligibleGpuException>();
        }
        else
        {
            selector.Select(rule.Request).Index.Should().Be(0);
            selector.SelectDevices(rule.Request).Should().ContainSingle().Which.Index.Should().Be(0);
        }

        // TryAcquire.
        selector.TryAcquire(rule.Request, out var lease).Should().Be(!rejected);
        if (!rejected)
        {
            lease.Device.Index.Should().Be(0);
            await lease.DisposeAsync();
        }

        // AcquireAsync: granted at once, or waits (a state rule, or a static one while another device could serve it).
        // A request no device could ever serve fails at once instead.
        using var cancel = new CancellationTokenSource();
        Task<GpuLease> pending;
        try
        {
            pending = selector.AcquireAsync(rule.Request, cancel.Token).AsTask();
        }
        catch (NoEligibleGpuException e)
        {
            pending = Task.FromException<GpuLease>(e);
        }

        pending.IsCompletedSuccessfully.Should().Be(!rejected);
        if (rejected && pending.IsFaulted)
        {
            pending.Exception!.InnerException.Should().BeOfType<NoEligibleGpuException>();
        }
        else if (rejected)
        {
            await cancel.CancelAsync();
            await pending.Awaiting(t => t.WaitAsync(Selectors.Guard)).Should().ThrowAsync<OperationCanceledException>();
        }
        else
        {
            (await pending).Device.Index.Should().Be(0);
        }

        selector.FindInvariantViolation().Should().BeNull();
    }

    [Fact]
    public void Explain_SeveralRulesFail_ListsEveryReasonInRuleOrderAndAddsTheirWeights()
    {
        var source = Uniform(2);
        source.Set(0, Healthy(Sample(tempC: 90, util: 95)) with { Health = GpuHealth.Degraded });
        var verdict = Selectors.Create(source).Explain(new GpuRequest { ExcludeIndexes = [0], NamePattern = "A100", MaxUtilizationPercent = 50 }).Devices[0];
        verdict.Reasons.Should().Equal(
            "excluded by index 0",
            "name 'NVIDIA H100 80GB HBM3' does not match 'A100'",
            "health Degraded (the request allows only Healthy)",
            "temperature 90 °C >= hot limit 85 °C",
            "utilization 95 % > max 50 %");
        verdict.Distance.Should().Be(Rejections.Identity + Rejections.Model + Rejections.Mild + Rejections.Load + Rejections.Load);
    }

    [Fact]
    public void PassesState_WithNoReasons_StopsAtTheFirstRejection()
    {
        var rules = new EligibilityRules(new DeviceSelectorOptions());
        var reading = new Reading(new DeviceState(GpuHealth.Unhealthy, false, default, TimeSpan.MaxValue), needAge: false);
        rules.PassesState(new GpuRequest(), reading, 10 * GiB, 0, 0, default(NoReasons), out var available).Should().BeFalse();
        available.Should().Be(0, "the room rule is never reached");

        var reasons = new Rejections();
        rules.PassesState(new GpuRequest(), reading, 10 * GiB, 0, 0, new CollectReasons(reasons), out available).Should().BeFalse();
        reasons.Should().Equal("health Unhealthy", "no telemetry reading yet");
        available.Should().Be(10 * GiB, "a collecting sink runs every rule, the room rule included (no reading: capacity − reserved)");
    }

    [Fact]
    public void StaticRules_ResolutionAndExplanation_AgreeOnEveryDevice()
    {
        var source = ConstraintTests.Fleet();
        var table = new SlotTable(source.Version, source.Devices, 512L << 20);
        var requests = new[]
        {
            new GpuRequest { MinComputeCapability = new(8, 0), MemoryBytes = 20 * GiB },
            new GpuRequest { NamePattern = "*A100*", ExcludeIndexes = [3] },
            new GpuRequest { IncludeIndexes = [1, 2], IncludeUuids = [Uuid(7)], MaxComputeCapability = new(8, 0) },
            new GpuRequest { MemoryBytes = 30 * GiB, ExcludeUuids = [Uuid(0)] },
        };
        foreach (var request in requests)
        {
            var resolved = ResolvedRequest.Of(request, table);
            for (var slot = 0; slot < table.Count; slot++)
            {
                var reasons = new Rejections();
                EligibilityRules.PassesStatic(request, table, slot, new CollectReasons(reasons)).Should().Be(reasons.Count == 0);
                resolved.Allowed[slot].Should().Be(reasons.Count == 0, "{0}, slot {1}: {2}", request, slot, string.Join("; ", reasons));
                EligibilityRules.PassesStatic(request, table, slot, default(NoReasons)).Should().Be(resolved.Allowed[slot]);
            }
        }
    }
}
