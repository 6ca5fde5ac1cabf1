using System.Globalization;
using System.Text.Json;
using Exo.Gpu.Clustering;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Configuration;

// Binds the GpuClustering section the way an AOT host does (the binder's source generator intercepts Get<T>) and
// prints every bound value as JSON, so CI can compare it with what appsettings.json sets.
var configuration = new ConfigurationBuilder()
    .AddJsonFile(Path.Combine(AppContext.BaseDirectory, args.Length > 0 ? args[0] : "appsettings.json"), optional: false)
    .Build();
var o = configuration.GetSection("GpuClustering").Get<GpuClusteringOptions>() ?? throw new InvalidOperationException("No GpuClustering section.");

using var output = Console.OpenStandardOutput();
using (var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true }))
{
    json.WriteStartObject();
    json.WriteString("BackendChoice", o.BackendChoice.ToString());
    json.WriteBoolean("EnablePoller", o.EnablePoller);
    Time(json, "RediscoveryInterval", o.RediscoveryInterval);
    Time(json, "DrainTimeout", o.DrainTimeout);
    Time(json, "DiscoveryTimeout", o.DiscoveryTimeout);
    Time(json, "StopTimeout", o.StopTimeout);
    json.WriteBoolean("StrictStart", o.StrictStart);
    json.WriteBoolean("KeepUnreadableDevices", o.KeepUnreadableDevices);

    var nvml = o.NvmlOptions ?? new();
    json.WriteStartObject("NvmlOptions");
    json.WriteString("NvmlLibraryPath", nvml.NvmlLibraryPath);
    json.WriteString("CudaLibraryPath", nvml.CudaLibraryPath);
    json.WriteString("CudaVisibleDevices", nvml.CudaVisibleDevices);
    json.WriteString("CudaDeviceOrder", nvml.CudaDeviceOrder.ToString());
    Time(json, "EventWaitTimeout", nvml.EventWaitTimeout);
    json.WriteEndObject();

    var simulated = o.SimulatedOptions ?? new();
    json.WriteStartObject("SimulatedOptions");
    json.WriteNumber("DeviceCount", simulated.DeviceCount);
    json.WriteString("Profile", simulated.Profile.ToString());
    json.WriteNumber("Seed", simulated.Seed);
    json.WriteString("Faults", simulated.Faults);
    json.WriteEndObject();

    var t = o.Telemetry;
    json.WriteStartObject("Telemetry");
    json.WriteNumber("HistoryCapacity", t.HistoryCapacity);
    Time(json, "MaxSampleAge", t.MaxSampleAge);
    Time(json, "StalenessLimit", t.StalenessLimit);
    Time(json, "HealthHoldTime", t.HealthHoldTime);
    Threshold(json, "TemperatureDegradedC", t.TemperatureDegradedC);
    Threshold(json, "TemperatureUnhealthyC", t.TemperatureUnhealthyC);
    Threshold(json, "PowerDegradedFraction", t.PowerDegradedFraction);
    Threshold(json, "EccUncorrectedUnhealthy", t.EccUncorrectedUnhealthy);
    json.WriteBoolean("HardwareSlowdownDegrades", t.HardwareSlowdownDegrades);
    json.WriteNumber("SamplingFailuresDegraded", t.SamplingFailuresDegraded);
    json.WriteNumber("SamplingFailuresUnhealthy", t.SamplingFailuresUnhealthy);
    Time(json, "CriticalEventHealthDuration", t.CriticalEventHealthDuration);
    Time(json, "PollInterval", t.PollInterval);
    Time(json, "SampleTimeout", t.SampleTimeout);
    Time(json, "MaxBackoff", t.MaxBackoff);
    json.WriteEndObject();

    var s = o.Selector;
    json.WriteStartObject("Selector");
    json.WriteString("DefaultStrategy", s.DefaultStrategy.ToString());
    json.WriteStartObject("Weights");
    json.WriteNumber("FreeMemory", s.Weights.FreeMemory);
    json.WriteNumber("Utilization", s.Weights.Utilization);
    json.WriteNumber("Temperature", s.Weights.Temperature);
    json.WriteNumber("PowerHeadroom", s.Weights.PowerHeadroom);
    json.WriteEndObject();
    json.WriteNumber("MemoryHeadroomBytes", s.MemoryHeadroomBytes);
    json.WriteString("MemoryHeadroom", s.MemoryHeadroom);
    json.WriteNumber("HotTemperatureC", s.HotTemperatureC);
    if (s.MaxLeasesPerDevice is int leases)
    {
        json.WriteNumber("MaxLeasesPerDevice", leases);
    }
    else
    {
        json.WriteNull("MaxLeasesPerDevice");
    }

    json.WriteNumber("RandomTopK", s.RandomTopK);
    if (s.Seed is int seed)
    {
        json.WriteNumber("Seed", seed);
    }
    else
    {
        json.WriteNull("Seed");
    }

    Time(json, "WaitRecheckInterval", s.WaitRecheckInterval);
    json.WriteBoolean("ApplyHealthChangesOnRefresh", s.ApplyHealthChangesOnRefresh);
    json.WriteEndObject();

    json.WriteStartArray("ValidationErrors");
    foreach (var error in o.Validate())
    {
        json.WriteStringValue(error.ToString());
    }

    json.WriteEndArray();
    json.WriteEndObject();
}

Console.WriteLine();

static void Time(Utf8JsonWriter json, string name, TimeSpan? value)
{
    if (value is TimeSpan v)
    {
        json.WriteString(name, v.ToString("c", CultureInfo.InvariantCulture));
    }
    else
    {
        json.WriteNull(name);
    }
}

static void Threshold(Utf8JsonWriter json, string name, HealthThreshold? value)
{
    if (value is HealthThreshold v)
    {
        json.WriteStartObject(name);
        json.WriteNumber("Enter", v.Enter);
        json.WriteNumber("Leave", v.Leave);
        json.WriteEndObject();
    }
    else
    {
        json.WriteNull(name);
    }
}
