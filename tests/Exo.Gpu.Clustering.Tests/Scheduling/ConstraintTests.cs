using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using FluentAssertions.Execution;
using static Exo.Gpu.Clustering.Tests.Scheduling.FakeDeviceStateSource;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

public class ConstraintTests
{
    /// <summary>
    /// 0 H100 idle, 1 A100 40 GB busy, 2 V100 16 GB, 3 H100 Degraded, 4 H100 Unhealthy, 5 H100 stale,
    /// 6 H100 hot (88 °C), 7 L4 24 GB that reports neither utilization nor temperature, reading 4 s old.
    /// With the default request, 0, 1, 2 and 7 are eligible.
    /// </summary>
    internal static FakeDeviceStateSource Fleet()
    {
        var source = new FakeDeviceStateSource();
        source.Add(Device(0), Healthy(Sample(util: 10, tempC: 40)));
        source.Add(Device(1, 40 * GiB, "NVIDIA A100-SXM4-40GB", new ComputeCapability(8, 0)), Healthy(Sample(40 * GiB, util: 70, tempC: 50)));
        source.Add(Device(2, 16 * GiB, "Tesla V100-SXM2-16GB", new ComputeCapability(7, 0)), Healthy(Sample(16 * GiB, util: 5, tempC: 35)));
        source.Add(Device(3), Healthy(Sample()) with { Health = GpuHealth.Degraded });
        source.Add(Device(4), Healthy(Sample()) with { Health = GpuHealth.Unhealthy });
        source.Add(Device(5), new DeviceState(GpuHealth.Unknown, false, default, TimeSpan.FromSeconds(30)));
        source.Add(Device(6), Healthy(Sample(tempC: 88)));
        source.Add(Device(7, 24 * GiB, "NVIDIA L4", new ComputeCapability(8, 9)), Healthy(Sample(24 * GiB, util: null, tempC: null), TimeSpan.FromSeconds(4)));
        return source;
    }

    public static TheoryData<string, GpuRequest, int[]> Cases => new()
    {
        { "default", new GpuRequest(), [0, 1, 2, 7] },
        { "min compute capability", new GpuRequest { MinComputeCapability = new(8, 0) }, [0, 1, 7] },
        { "max compute capability", new GpuRequest { MaxComputeCapability = new(8, 9) }, [1, 2, 7] },
        { "max utilization", new GpuRequest { MaxUtilizationPercent = 50 }, [0, 2] },
        { "max utilization at the edge", new GpuRequest { MaxUtilizationPercent = 70 }, [0, 1, 2] },
        { "max temperature", new GpuRequest { MaxTemperatureC = 45 }, [0, 2] },
        { "exclude indexes", new GpuRequest { ExcludeIndexes = [0, 2] }, [1, 7] },
        { "include indexes", new GpuRequest { IncludeIndexes = [1, 2, 3] }, [1, 2] },
        { "include uuids", new GpuRequest { IncludeUuids = [Uuid(7).ToUpperInvariant()] }, [7] },
        { "exclude uuids", new GpuRequest { ExcludeUuids = [Uuid(1)] }, [0, 2, 7] },
        { "include index and uuid", new GpuRequest { IncludeIndexes = [0], IncludeUuids = [Uuid(2)] }, [0, 2] },
        { "name substring", new GpuRequest { NamePattern = "h100" }, [0] },
        { "name glob", new GpuRequest { NamePattern = "*A100*" }, [1] },
        { "allow degraded", new GpuRequest { AllowDegraded = true }, [0, 1, 2, 3, 7] },
        { "max telemetry age", new GpuRequest { MaxTelemetryAge = TimeSpan.FromSeconds(2) }, [0, 1, 2] },
        { "memory 20 GiB", new GpuRequest { MemoryBytes = 20 * GiB }, [0, 1, 7] },
        { "memory 30 GiB", new GpuRequest { MemoryBytes = 30 * GiB }, [0, 1] },
        { "memory 79.5 GiB (capacity)", new GpuRequest { MemoryBytes = 79 * GiB + (GiB / 2) }, [0] },
        { "memory above capacity", new GpuRequest { MemoryBytes = 80 * GiB }, [] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Explain_EachConstraint_ExcludesExactlyTheRightDevices(string name, GpuRequest request, int[] expected)
    {
        using var _ = new AssertionScope(name);
        var selector = Selectors.Create(Fleet());
        var explanation = selector.Explain(request);
        explanation.Devices.Where(d => d.Eligible).Select(d => d.Device.Index).Should().Equal(expected);
        if (expected.Length > 0)
        {
            expected.Should().Contain(selector.Select(request).Index);
            explanation.Chosen.Should().ContainSingle().Which.Index.Should().BeOneOf(expected);
        }
        else
        {
            selector.Invoking(s => s.Select(request)).Should().Throw<NoEligibleGpuException>();
            explanation.Fits.Should().BeFalse();
        }
    }

    [Fact]
    public void Explain_HotLimitOption_ExcludesAtAndAboveIt()
    {
        var selector = Selectors.Create(Fleet(), new DeviceSelectorOptions { HotTemperatureC = 40, Seed = 1 });
        selector.Explain(new GpuRequest()).Devices.Where(d => d.Eligible).Select(d => d.Device.Index).Should().Equal(2, 7);
    }

    [Fact]
    public void Explain_MemoryAfterReservations_ExcludesADeviceWhoseRoomIsReserved()
    {
        var selector = Selectors.Create(Fleet());
        selector.TryAcquire(new GpuRequest { MemoryBytes = 70 * GiB, IncludeIndexes = [0] }, out var lease).Should().BeTrue();
        var verdict = selector.Explain(new GpuRequest { MemoryBytes = 20 * GiB }).Devices[0];
        verdict.Eligible.Should().BeFalse();
        verdict.Reasons.Should().Equal("needs 20 GiB, 9.5 GiB free after reservations (70 GiB reserved of 79.5 GiB capacity, 80 GiB free observed)");
        lease.Dispose();
        selector.Explain(new GpuRequest { MemoryBytes = 20 * GiB }).Devices[0].Eligible.Should().BeTrue();
    }

    [Fact]
    public void Explain_ObservedMemoryInUse_CountsAgainstFreeMemory()
    {
        var source = Uniform(1);
        source.SetSample(0, Sample(usedBytes: 68 * GiB));
        var verdict = Selectors.Create(source).Explain(new GpuRequest { MemoryBytes = 20 * GiB }).Devices[0];
        verdict.Reasons.Should().Equal("needs 20 GiB, 11.5 GiB free after reservations (0 B reserved of 79.5 GiB capacity, 12 GiB free observed)");
        verdict.FreeBytesAfterReservations.Should().Be(11 * GiB + (GiB / 2));
    }

    [Fact]
    public void Explain_ConcurrencySlotsFull_ExcludesTheDevice()
    {
        var selector = Selectors.Create(Uniform(2), new DeviceSelectorOptions { MaxLeasesPerDevice = 1, Seed = 1 });
        selector.TryAcquire(new GpuRequest { IncludeIndexes = [0] }, out _).Should().BeTrue();
        var explanation = selector.Explain(new GpuRequest());
        explanation.Devices[0].Reasons.Should().Equal("all 1 concurrency slots in use");
        explanation.Chosen.Single().Index.Should().Be(1);
    }

    [Fact]
    public void Explain_RejectedDevices_ListEveryReason()
    {
        var explanation = Selectors.Create(Fleet()).Explain(new GpuRequest { MemoryBytes = 20 * GiB, NamePattern = "A100", MaxUtilizationPercent = 50 });
        explanation.Devices[1].Reasons.Should().Equal("utilization 70 % > max 50 %");
        explanation.Devices[2].Reasons.Should().Equal(
            "name 'Tesla V100-SXM2-16GB' does not match 'A100'",
            "needs 20 GiB, capacity 15.5 GiB (16 GiB total − 512 MiB headroom)");
        explanation.Devices[4].Reasons.Should().Equal("name 'NVIDIA H100 80GB HBM3' does not match 'A100'", "health Unhealthy");
        explanation.Devices[5].Reasons.Should().Contain("telemetry stale (last reading 30 s old)");
        explanation.Devices[6].Reasons.Should().Contain("temperature 88 °C >= hot limit 85 °C");
        explanation.Devices[7].Reasons.Should().Contain("utilization not reported (the request limits it)");
        explanation.Devices[3].Reasons.Should().Contain("health Degraded (the request allows only Healthy)");
    }

    [Fact]
    public void Select_NothingFits_ThrowsNamingTheNearestDeviceAndWhy()
    {
        var source = Uniform(3);
        source.SetSample(0, Sample(usedBytes: 60 * GiB));
        source.SetSample(1, Sample(usedBytes: 68 * GiB));
        source.ChangeHealth(2, GpuHealth.Unhealthy);
        var selector = Selectors.Create(source);
        var thrown = selector.Invoking(s => s.Select(new GpuRequest { MemoryBytes = 20 * GiB })).Should().Throw<NoEligibleGpuException>().Which;
        thrown.Nearest!.Device.Index.Should().Be(0);
        thrown.Message.Should().Be(
            $"No device satisfies the request (1 device × 20 GiB); nearest: 0: NVIDIA H100 80GB HBM3 ({Uuid(0)}): needs 20 GiB, 19.5 GiB free after reservations (0 B reserved of 79.5 GiB capacity, 20 GiB free observed).");
        thrown.Explanation!.Devices.Should().HaveCount(3);
    }

    [Fact]
    public void SelectDevices_GangTooLarge_ThrowsNamingEligibleCount()
    {
        var source = Uniform(4);
        source.ChangeHealth(1, GpuHealth.Lost);
        source.ChangeHealth(2, GpuHealth.Lost);
        var thrown = Selectors.Create(source).Invoking(s => s.SelectDevices(new GpuRequest { DeviceCount = 3 })).Should().Throw<NoEligibleGpuException>().Which;
        thrown.Message.Should().StartWith("The request (3 devices × 0 B) needs 3 devices, but 2 are eligible; nearest: 1: ");
        thrown.Message.Should().EndWith("health Lost.");
    }

    public static TheoryData<string, GpuRequest> ClusterBadRequests => new()
    {
        { "DeviceCount", new GpuRequest { DeviceCount = 9 } },
        { "IncludeIndexes", new GpuRequest { IncludeIndexes = [8] } },
        { "ExcludeIndexes", new GpuRequest { ExcludeIndexes = [0, 12] } },
        { "IncludeUuids", new GpuRequest { IncludeUuids = ["GPU-nope"] } },
        { "ExcludeUuids", new GpuRequest { ExcludeUuids = ["GPU-nope"] } },
        { "ExcludeUuids", new GpuRequest { IncludeIndexes = [3], ExcludeUuids = [Uuid(3)] } },
        { "DeviceCount", new GpuRequest { IncludeIndexes = [3], IncludeUuids = [Uuid(3)], DeviceCount = 2 } },
        { "ExcludeIndexes", new GpuRequest { ExcludeIndexes = [0, 1, 2, 3, 4, 5, 6, 7] } },
        { "DeviceCount", new GpuRequest { ExcludeIndexes = [0, 1, 2, 3, 4, 5], DeviceCount = 3 } },
    };

    [Theory]
    [MemberData(nameof(ClusterBadRequests))]
    public async Task EveryEntryPoint_RequestBadForTheCluster_ThrowsNamingTheFieldAndChangesNothing(string field, GpuRequest request)
    {
        var selector = Selectors.Create(Fleet());
        selector.Invoking(s => s.Explain(request)).Should().Throw<ArgumentException>().Which.ParamName.Should().Be(field);
        selector.Invoking(s => s.SelectDevices(request)).Should().Throw<ArgumentException>().Which.ParamName.Should().Be(field);
        selector.Invoking(s => s.TryAcquire(request, out _)).Should().Throw<ArgumentException>().Which.ParamName.Should().Be(field);
        (await selector.Awaiting(s => s.AcquireAsync(request).AsTask()).Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be(field);
        var snapshot = selector.GetSnapshot();
        snapshot.Granted.Should().Be(0);
        snapshot.Waiters.Should().Be(0);
        snapshot.Devices.Should().OnlyContain(d => d.ReservedBytes == 0);
    }

    [Fact]
    public void Select_GangRequest_ThrowsNamingDeviceCount() =>
        Selectors.Create(Fleet()).Invoking(s => s.Select(new GpuRequest { DeviceCount = 2 }))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("DeviceCount");

    [Fact]
    public void Select_NullRequest_Throws() =>
        Selectors.Create(Fleet()).Invoking(s => s.Select(null!)).Should().Throw<ArgumentNullException>().Which.ParamName.Should().Be("request");

    /// <summary>
    /// Thousands of random fleets and requests: the eligible set matches an independent statement of the rules, the
    /// choice is eligible and respects the strategy, and every rejected device has a reason.
    /// </summary>
    [Fact]
    public void Explain_RandomFleetsAndRequests_MatchTheRulesStatedIndependently()
    {
        var random = new Random(20260101);
        for (var trial = 0; trial < 2000; trial++)
        {
            var n = random.Next(1, 12);
            var source = new FakeDeviceStateSource();
            for (var i = 0; i < n; i++)
            {
                var total = random.Next(1, 9) * 8 * GiB;
                var fresh = random.Next(8) != 0;
                var health = (GpuHealth)random.Next(5);
                var sample = Sample(total, random.NextInt64(total), random.Next(4) == 0 ? null : random.Next(101), random.Next(4) == 0 ? null : random.Next(20, 100));
                var cc = random.Next(4) == 0 ? (ComputeCapability?)null : new ComputeCapability(random.Next(6, 10), random.Next(0, 2));
                var device = new GpuDevice(Uuid(i), i, random.Next(2) == 0 ? "NVIDIA H100" : "NVIDIA A100", total, GpuBackendKind.Simulated) { ComputeCapability = cc };
                source.Add(device, new DeviceState(health, fresh, fresh ? sample : default, fresh ? TimeSpan.FromSeconds(random.Next(10)) : TimeSpan.MaxValue));
            }

            var memory = random.Next(3) == 0 ? 0 : random.NextInt64(64 * GiB);
            double? maxUtil = random.Next(3) == 0 ? random.Next(101) : null;
            double? maxTemp = random.Next(3) == 0 ? random.Next(20, 100) : null;
            ComputeCapability? minCc = random.Next(4) == 0 ? new ComputeCapability(random.Next(6, 10), 0) : null;
            var name = random.Next(4) == 0 ? "H100" : null;
            int[]? exclude = random.Next(4) == 0 ? [random.Next(n)] : null;
            var degraded = random.Next(2) == 0;
            TimeSpan? maxAge = random.Next(4) == 0 ? TimeSpan.FromSeconds(random.Next(1, 10)) : null;
            var strategy = (GpuSelectionStrategy)random.Next(7);
            GpuRequest Make(int count) => new()
            {
                MemoryBytes = memory,
                MaxUtilizationPercent = maxUtil,
                MaxTemperatureC = maxTemp,
                MinComputeCapability = minCc,
                NamePattern = name,
                ExcludeIndexes = exclude,
                AllowDegraded = degraded,
                MaxTelemetryAge = maxAge,
                Strategy = strategy,
                DeviceCount = count,
            };

            if (exclude is not null && n == 1)
            {
                continue;
            }

            var request = Make(1);
            var selector = Selectors.Create(source);
            var explanation = selector.Explain(request);
            var expected = Enumerable.Range(0, n).Where(slot => Eligible(source.Devices[slot], source.GetState(slot), request)).ToArray();
            explanation.Devices.Where(d => d.Eligible).Select(d => d.Device.Index).Should().Equal(expected, "trial {0}: {1}; {2}", trial, request, string.Join(" | ", Enumerable.Range(0, n).Select(i => $"{source.Devices[i]} {source.Devices[i].ComputeCapability} {source.GetState(i).Health} fresh={source.GetState(i).HasFreshSample} age={source.GetState(i).SampleAge} util={source.GetState(i).Sample.UtilizationPercent} t={source.GetState(i).Sample.TemperatureC} free={source.GetState(i).Sample.MemoryFreeBytes}")));
            explanation.Fits.Should().Be(expected.Length > 0);
            if (expected.Length > 0)
            {
                var chosen = selector.Select(request);
                expected.Should().Contain(chosen.Index);

                // The selection path (no explanation) agrees: a gang of all eligible devices is exactly them, one more fails.
                selector.SelectDevices(Make(expected.Length)).Select(d => d.Index).Order().Should().Equal(expected);
                if (expected.Length < n - (exclude?.Length ?? 0))
                {
                    selector.Invoking(s => s.SelectDevices(Make(expected.Length + 1))).Should().Throw<NoEligibleGpuException>();
                }

                if (request.Strategy == GpuSelectionStrategy.MostFreeMemory)
                {
                    explanation.Devices[chosen.Index].FreeBytesAfterReservations.Should().Be(expected.Max(s => explanation.Devices[s].FreeBytesAfterReservations));
                }
            }
            else
            {
                explanation.Nearest.Should().NotBeNull();
            }
        }
    }

    private static bool Eligible(GpuDevice device, DeviceState state, GpuRequest request)
    {
        const long headroom = 512L << 20;
        var s = state.Sample;
        return (state.Health == GpuHealth.Healthy || (state.Health == GpuHealth.Degraded && request.AllowDegraded))
            && state.HasFreshSample
            && (request.MaxTelemetryAge is null || state.SampleAge <= request.MaxTelemetryAge)
            && (s.TemperatureC is null || s.TemperatureC < 85)
            && (request.MaxTemperatureC is null || s.TemperatureC <= request.MaxTemperatureC)
            && (request.MaxUtilizationPercent is null || s.UtilizationPercent <= request.MaxUtilizationPercent)
            && (request.MinComputeCapability is null || device.ComputeCapability >= request.MinComputeCapability)
            && (request.NamePattern is null || device.Name.Contains(request.NamePattern, StringComparison.OrdinalIgnoreCase))
            && (request.ExcludeIndexes is null || !request.ExcludeIndexes.Contains(device.Index))
            && Math.Min(device.TotalMemoryBytes - headroom, s.MemoryFreeBytes!.Value - headroom) >= request.MemoryBytes;
    }
}
