using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends.Nvml;

public sealed partial class NvmlGpuBackend
{
    /// <inheritdoc />
    public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        var entry = Find(device);
        cancellationToken.ThrowIfCancellationRequested();
        return cancellationToken.CanBeCanceled ? ReadOffThreadAsync(entry, cancellationToken) : new ValueTask<GpuSample>(ReadInline(entry));
    }

    /// <summary>Turns a failed sampling call into the documented exception.</summary>
    private static Exception Failure(NvmlReturn code, string function, DeviceEntry entry)
    {
        var message = string.Create(
            CultureInfo.InvariantCulture, $"{function} failed on NVML device {entry.Device.Index} ({entry.Device.Uuid}): {Describe(code)}.");
        return code == NvmlReturn.GpuIsLost
            ? new GpuDeviceLostException(entry.Device.Uuid, message)
            : new GpuSamplingException(message, NvmlErrors.Name(code), (int)code);
    }

    /// <summary>
    /// True on success; false for NOT_SUPPORTED, NO_PERMISSION and NO_DATA ("this value unknown": MIG-enabled GPUs
    /// answer NOT_SUPPORTED for utilization and, in unprivileged containers, NO_PERMISSION for memory; the rest of the
    /// reading stands), the last two logged once per device and call; throws for anything else.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Ok(NvmlReturn code, string function, DeviceEntry entry)
    {
        if (code == NvmlReturn.Success)
        {
            return true;
        }

        if (code != NvmlReturn.NotSupported)
        {
            Unavailable(code, function, entry);
        }

        return false;
    }

    /// <summary>A value the device will not give now: logged once per device and call for NO_PERMISSION and NO_DATA; throws for any other error.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Unavailable(NvmlReturn code, string function, DeviceEntry entry)
    {
        if (code is not (NvmlReturn.NoPermission or NvmlReturn.NoData))
        {
            ThrowFailure(code, function, entry);
        }

        if (entry.NoteUnavailable(function, code))
        {
            NvmlLog.ValueUnavailable(_logger, entry.Device.Uuid, function, new NvmlErrorName(code), (int)code);
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowFailure(NvmlReturn code, string function, DeviceEntry entry) => throw Failure(code, function, entry);

    private async ValueTask<GpuSample> ReadOffThreadAsync(DeviceEntry entry, CancellationToken cancellationToken)
    {
        var pending = Volatile.Read(ref entry.Pending);
        if (pending is null || pending.IsCompleted)
        {
            Enter();
            pending = Task.Run(() =>
            {
                try
                {
                    return Read(entry);
                }
                finally
                {
                    Exit();
                }
            });
            Volatile.Write(ref entry.Pending, pending);
        }

        return await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private DeviceEntry Find(GpuDevice device)
    {
        if (device.Backend == GpuBackendKind.Nvml)
        {
            var table = Volatile.Read(ref _table);
            if (table is not null && (uint)device.Index < (uint)table.ByIndex.Length && table.ByIndex[device.Index] is { } entry
                && ReferenceEquals(entry.Device, device))
            {
                return entry;
            }

            if (_known.TryGetValue(device.Uuid, out var known))
            {
                return known;
            }
        }

        throw new ArgumentException($"Device {device.Uuid} was not discovered by this NVML backend.", nameof(device));
    }

    /// <summary>Total and used memory: <c>nvmlDeviceGetMemoryInfo_v2</c> where it exists and accepts the version, else v1.</summary>
    /// <returns>The NVML result and the name of the function that produced it.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe (NvmlReturn Result, string Function) ReadMemory(nint handle, NvmlOptionalApi api, out long total, out long used)
    {
        NvmlReturn result;
        if (api.GetMemoryInfoV2 != null && !_memoryV1Only)
        {
            NvmlMemoryV2 v2;
            v2.Version = NvmlConstants.MemoryV2Version;
            result = api.GetMemoryInfoV2(handle, &v2);
            if (result is not (NvmlReturn.ArgumentVersionMismatch or NvmlReturn.FunctionNotFound))
            {
                total = Clamp(v2.Total);
                used = Clamp(v2.Used);
                return (result, "nvmlDeviceGetMemoryInfo_v2");
            }

            FallBack(ref _memoryV1Only, "nvmlDeviceGetMemoryInfo_v2", result, "nvmlDeviceGetMemoryInfo");
        }

        NvmlMemory v1;
        result = NvmlNative.DeviceGetMemoryInfo(handle, &v1);
        total = Clamp(v1.Total);
        used = Clamp(v1.Used);
        return (result, "nvmlDeviceGetMemoryInfo");
    }

    /// <summary>Switches a newer call off for good (its struct version is refused), and says so once.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FallBack(ref bool flag, string function, NvmlReturn result, string fallback)
    {
        if (!Volatile.Read(ref flag))
        {
            Volatile.Write(ref flag, true);
            NvmlLog.FallingBack(_logger, function, new NvmlErrorName(result), fallback);
        }
    }

    /// <summary>A reading on the caller's thread, inside the call gate.</summary>
    private GpuSample ReadInline(DeviceEntry entry)
    {
        Enter();
        try
        {
            return Read(entry);
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>One reading of a device. Every call that fails other than with NOT_SUPPORTED, NO_PERMISSION or NO_DATA fails the reading.</summary>
    /// <remarks>The hot path of a poll: the fallbacks and the throws live in methods of their own, so this one stays small.</remarks>
    [SkipLocalsInit]
    private unsafe GpuSample Read(DeviceEntry entry)
    {
        var handle = entry.Handle;
        var api = _nvml.Optional;
        var timestamp = _time.GetUtcNow();

        var (memoryResult, memoryFunction) = ReadMemory(handle, api, out var total, out var used);
        var hasMemory = Ok(memoryResult, memoryFunction, entry);

        NvmlUtilization utilization;
        var hasUtilization = Ok(NvmlNative.DeviceGetUtilizationRates(handle, &utilization), "nvmlDeviceGetUtilizationRates", entry);

        var hasTemperature = ReadTemperature(entry, api, out var celsius);

        uint power, limit, clock;
        var hasPower = Ok(NvmlNative.DeviceGetPowerUsage(handle, &power), "nvmlDeviceGetPowerUsage", entry);
        var hasLimit = Ok(NvmlNative.DeviceGetEnforcedPowerLimit(handle, &limit), "nvmlDeviceGetEnforcedPowerLimit", entry);
        var hasClock = Ok(NvmlNative.DeviceGetClockInfo(handle, NvmlConstants.ClockSm, &clock), "nvmlDeviceGetClockInfo", entry);

        ulong reasons;
        bool hasReasons;
        if (api.GetClocksEventReasons != null)
        {
            hasReasons = Ok(api.GetClocksEventReasons(handle, &reasons), "nvmlDeviceGetCurrentClocksEventReasons", entry);
        }
        else if (api.GetClocksThrottleReasons != null)
        {
            hasReasons = Ok(api.GetClocksThrottleReasons(handle, &reasons), "nvmlDeviceGetCurrentClocksThrottleReasons", entry);
        }
        else
        {
            reasons = 0;
            hasReasons = false;
        }

        ulong corrected, uncorrected;
        var hasCorrected = Ok(
            NvmlNative.DeviceGetTotalEccErrors(handle, NvmlConstants.MemoryErrorCorrected, NvmlConstants.EccCounterVolatile, &corrected),
            "nvmlDeviceGetTotalEccErrors",
            entry);
        var hasUncorrected = Ok(
            NvmlNative.DeviceGetTotalEccErrors(handle, NvmlConstants.MemoryErrorUncorrected, NvmlConstants.EccCounterVolatile, &uncorrected),
            "nvmlDeviceGetTotalEccErrors",
            entry);

        return new GpuSample
        {
            Timestamp = timestamp,
            MemoryUsedBytes = hasMemory ? used : null,
            MemoryTotalBytes = hasMemory ? total : null,
            UtilizationPercent = hasUtilization ? utilization.Gpu : null,
            MemoryUtilizationPercent = hasUtilization ? utilization.Memory : null,
            TemperatureC = hasTemperature ? celsius : null,
            PowerW = hasPower ? power / 1000.0 : null,
            PowerLimitW = hasLimit ? limit / 1000.0 : null,
            SmClockMHz = hasClock ? (int)Math.Min(clock, int.MaxValue) : null,
            ClockEventReasons = hasReasons ? (GpuClockEventReasons)reasons : null,
            EccCorrectedErrors = hasCorrected ? Clamp(corrected) : null,
            EccUncorrectedErrors = hasUncorrected ? Clamp(uncorrected) : null,
        };
    }

    /// <summary>The GPU temperature: <c>nvmlDeviceGetTemperatureV</c> where it exists and accepts the version, else the classic call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe bool ReadTemperature(DeviceEntry entry, NvmlOptionalApi api, out int celsius)
    {
        NvmlReturn result;
        if (api.GetTemperatureV != null && !_temperatureClassicOnly)
        {
            NvmlTemperatureV1 reading;
            reading.Version = NvmlConstants.TemperatureV1Version;
            reading.SensorType = NvmlConstants.TemperatureGpu;
            reading.Temperature = 0;
            result = api.GetTemperatureV(entry.Handle, &reading);
            celsius = reading.Temperature;
            if (result is not (NvmlReturn.ArgumentVersionMismatch or NvmlReturn.FunctionNotFound) || api.GetTemperature == null)
            {
                return Ok(result, "nvmlDeviceGetTemperatureV", entry);
            }

            FallBack(ref _temperatureClassicOnly, "nvmlDeviceGetTemperatureV", result, "nvmlDeviceGetTemperature");
        }

        if (api.GetTemperature == null)
        {
            celsius = 0;
            return false;
        }

        uint value;
        result = api.GetTemperature(entry.Handle, NvmlConstants.TemperatureGpu, &value);
        celsius = (int)Math.Min(value, int.MaxValue);
        return Ok(result, "nvmlDeviceGetTemperature", entry);
    }
}
