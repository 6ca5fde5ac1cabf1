using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Diagnostics;

/// <summary>
/// The attributes of one device's measurements, built once per device and reused at every collection: the
/// OpenTelemetry hardware conventions require <c>hw.id</c> (the UUID) on every GPU metric and recommend
/// <c>hw.name</c>, <c>hw.vendor</c>, <c>hw.model</c> and <c>hw.driver_version</c>; <c>hw.status</c>, <c>hw.errors</c>,
/// <c>hw.power</c> (and, as the library has always done, <c>hw.temperature</c>) add <c>hw.type = gpu</c>.
/// </summary>
internal sealed class DeviceTags
{
    /// <summary>One set per device object (devices are immutable; a rediscovered device is a new object with the same tags).</summary>
    private static readonly ConditionalWeakTable<GpuDevice, DeviceTags> Cache = new();

    private DeviceTags(GpuDevice device)
    {
        List<KeyValuePair<string, object?>> common =
        [
            new(GpuInstruments.HwIdAttribute, device.Uuid),
            new(GpuInstruments.HwNameAttribute, device.Name),
            new(GpuInstruments.HwVendorAttribute, device.Vendor),
            new(GpuInstruments.HwModelAttribute, device.Name),
        ];
        if (!string.IsNullOrEmpty(device.DriverVersion))
        {
            common.Add(new(GpuInstruments.HwDriverVersionAttribute, device.DriverVersion));
        }

        Gpu = [.. common];
        common.Add(new(GpuInstruments.HwTypeAttribute, GpuInstruments.HwTypeGpu));
        Typed = [.. common];
        Ok = With(common, GpuInstruments.HwStateAttribute, GpuInstruments.HwStateOk);
        Degraded = With(common, GpuInstruments.HwStateAttribute, GpuInstruments.HwStateDegraded);
        Failed = With(common, GpuInstruments.HwStateAttribute, GpuInstruments.HwStateFailed);
        Corrected = With(common, GpuInstruments.ErrorTypeAttribute, GpuInstruments.ErrorTypeCorrected);
        Uncorrected = With(common, GpuInstruments.ErrorTypeAttribute, GpuInstruments.ErrorTypeUncorrected);
        Lease = [new(GpuInstruments.HwIdAttribute, device.Uuid), new(GpuInstruments.HwNameAttribute, device.Name)];
    }

    /// <summary>The attributes of a <c>hw.gpu.*</c> metric: identity and the recommended descriptive attributes.</summary>
    public KeyValuePair<string, object?>[] Gpu { get; }

    /// <summary><see cref="Gpu"/> and <c>hw.type = gpu</c>: for the shared hardware metrics (<c>hw.power</c>, <c>hw.temperature</c>).</summary>
    public KeyValuePair<string, object?>[] Typed { get; }

    /// <summary><see cref="Typed"/> and <c>hw.state = ok</c>.</summary>
    public KeyValuePair<string, object?>[] Ok { get; }

    /// <summary><see cref="Typed"/> and <c>hw.state = degraded</c>.</summary>
    public KeyValuePair<string, object?>[] Degraded { get; }

    /// <summary><see cref="Typed"/> and <c>hw.state = failed</c>.</summary>
    public KeyValuePair<string, object?>[] Failed { get; }

    /// <summary><see cref="Typed"/> and <c>error.type = corrected</c>.</summary>
    public KeyValuePair<string, object?>[] Corrected { get; }

    /// <summary><see cref="Typed"/> and <c>error.type = uncorrected</c>.</summary>
    public KeyValuePair<string, object?>[] Uncorrected { get; }

    /// <summary>The attributes of the per-device lease instruments: <c>hw.id</c> and <c>hw.name</c>.</summary>
    public KeyValuePair<string, object?>[] Lease { get; }

    /// <summary>The tags of <paramref name="device"/>.</summary>
    public static DeviceTags Of(GpuDevice device) => Cache.GetValue(device, static d => new DeviceTags(d));

    private static KeyValuePair<string, object?>[] With(List<KeyValuePair<string, object?>> common, string key, string value) =>
        [.. common, new(key, value)];
}
