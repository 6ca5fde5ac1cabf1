using System.Reflection;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Exo.Gpu.Clustering.Hosting.Tests;

/// <summary>Every option binds from configuration keys that follow its property path (the test project's appsettings.json sets each one).</summary>
public class BindingTests
{
    private static IConfigurationRoot Json() =>
        new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false).Build();

    private static GpuClusteringOptions Bind(IConfiguration configuration)
    {
        var services = new ServiceCollection();
        services.AddGpuClustering(configuration.GetSection("GpuClustering"));
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<GpuClusteringOptions>>().Value;
    }

    [Fact]
    public void AddGpuClustering_AppSettingsJson_BindsEveryOption() => AssertEverySetting(Bind(Json()));

    [Fact]
    public void AddGpuClustering_InMemoryConfiguration_BindsEveryOption()
    {
        var memory = new ConfigurationBuilder().AddInMemoryCollection(Json().AsEnumerable().Where(p => p.Value is not null)).Build();

        AssertEverySetting(Bind(memory));
    }

    [Fact]
    public void ReflectionBinder_AppSettingsJson_BindsEveryOption()
    {
        // AddGpuClustering binds with the source-generated binder (the hosting assembly enables it); this test project
        // does not, so Get<T> here is the reflection binder.
        AssertEverySetting(Json().GetSection("GpuClustering").Get<GpuClusteringOptions>()!);
    }

    [Fact]
    public void AppSettingsJson_SetsEveryOptionProperty()
    {
        // A new option must be added to appsettings.json (and so to the binding assertions), or this fails.
        var keys = Json().AsEnumerable().Where(p => p.Value is not null).Select(p => p.Key).ToHashSet(StringComparer.OrdinalIgnoreCase);

        Leaves(typeof(GpuClusteringOptions), "GpuClustering").Where(k => !keys.Contains(k)).Should().BeEmpty();
    }

    [Fact]
    public void AddGpuClustering_ByteSizeAndProfileNames_BindCaseInsensitively()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["GpuClustering:Selector:MemoryHeadroom"] = "20GiB",
            ["GpuClustering:SimulatedOptions:Profile"] = "HETEROGENEOUS",
            ["GpuClustering:BackendChoice"] = "nvml",
        }).Build();

        var options = Bind(configuration);

        options.Selector.MemoryHeadroom.Should().Be("20GiB");
        ByteSize.Parse(options.Selector.MemoryHeadroom!).Should().Be(20L << 30);
        options.SimulatedOptions!.Profile.Should().Be(SimulatedProfileKind.Heterogeneous);
        options.BackendChoice.Should().Be(GpuBackendChoice.Nvml);
    }

    private static IEnumerable<string> Leaves(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var t = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var key = prefix + ":" + property.Name;
            if (t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(TimeSpan))
            {
                yield return key;
            }
            else
            {
                foreach (var leaf in Leaves(t, key))
                {
                    yield return leaf;
                }
            }
        }
    }

    private static void AssertEverySetting(GpuClusteringOptions o)
    {
        o.BackendChoice.Should().Be(GpuBackendChoice.Simulated);
        o.EnablePoller.Should().BeFalse();
        o.RediscoveryInterval.Should().Be(TimeSpan.FromMinutes(2));
        o.DrainTimeout.Should().Be(TimeSpan.FromSeconds(7));
        o.DiscoveryTimeout.Should().Be(TimeSpan.FromSeconds(9));
        o.StopTimeout.Should().Be(TimeSpan.FromSeconds(3));
        o.StrictStart.Should().BeTrue();
        o.KeepUnreadableDevices.Should().BeTrue();

        var nvml = o.NvmlOptions!;
        nvml.NvmlLibraryPath.Should().Be("/opt/nvidia/libnvidia-ml.so.1");
        nvml.CudaLibraryPath.Should().Be("/opt/nvidia/libcuda.so.1");
        nvml.CudaVisibleDevices.Should().Be("0,2");
        nvml.CudaDeviceOrder.Should().Be(CudaDeviceOrder.PciBusId);
        nvml.EventWaitTimeout.Should().Be(TimeSpan.FromMilliseconds(250));

        var simulated = o.SimulatedOptions!;
        (simulated.DeviceCount, simulated.Profile, simulated.Seed, simulated.Faults).Should().Be((3, SimulatedProfileKind.Heterogeneous, 42, "hot:1@5s"));

        var t = o.Telemetry;
        t.HistoryCapacity.Should().Be(120);
        t.MaxSampleAge.Should().Be(TimeSpan.FromMinutes(1));
        t.StalenessLimit.Should().Be(TimeSpan.FromSeconds(4));
        t.HealthHoldTime.Should().Be(TimeSpan.FromSeconds(20));
        t.TemperatureDegradedC.Should().Be(new HealthThreshold(80, 75));
        t.TemperatureUnhealthyC.Should().Be(new HealthThreshold(92, 88));
        t.PowerDegradedFraction.Should().Be(new HealthThreshold(0.97, 0.85));
        t.EccUncorrectedUnhealthy.Should().Be(new HealthThreshold(2, 1));
        t.HardwareSlowdownDegrades.Should().BeFalse();
        t.SamplingFailuresDegraded.Should().Be(3);
        t.SamplingFailuresUnhealthy.Should().Be(6);
        t.CriticalEventHealthDuration.Should().Be(TimeSpan.FromMinutes(5));
        t.PollInterval.Should().Be(TimeSpan.FromSeconds(2));
        t.SampleTimeout.Should().Be(TimeSpan.FromMilliseconds(1500));
        t.MaxBackoff.Should().Be(TimeSpan.FromSeconds(20));

        var s = o.Selector;
        s.DefaultStrategy.Should().Be(GpuSelectionStrategy.BestFit);
        (s.Weights.FreeMemory, s.Weights.Utilization, s.Weights.Temperature, s.Weights.PowerHeadroom).Should().Be((0.4, 0.4, 0.15, 0.05));
        s.MemoryHeadroomBytes.Should().Be(1048576);
        s.MemoryHeadroom.Should().Be("2GiB");
        s.HotTemperatureC.Should().Be(83);
        s.MaxLeasesPerDevice.Should().Be(4);
        s.RandomTopK.Should().Be(2);
        s.Seed.Should().Be(17);
        s.WaitRecheckInterval.Should().Be(TimeSpan.FromMilliseconds(500));
        s.ApplyHealthChangesOnRefresh.Should().BeTrue();
        o.Validate().Should().BeEmpty();
    }
}
