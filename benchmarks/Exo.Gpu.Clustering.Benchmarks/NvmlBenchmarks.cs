using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Benchmarks;

/// <summary>
/// One poll of 8 devices through the NVML backend on the fake native library (tests/…/native/fake_gpu.c), against the
/// bare native calls the backend makes for it (the same nine calls per device through the same bindings, into a
/// <see cref="GpuSample"/>). Target: the backend within 1.2x of the bare calls. The fake answers in tens of nanoseconds;
/// a real NVML call costs microseconds to hundreds of microseconds, so on hardware the backend's share is far smaller.
/// </summary>
[MemoryDiagnoser]
public class NvmlBenchmarks
{
    private const int Devices = 8;
    private readonly nint[] _handles = new nint[Devices];
    private NvmlGpuBackend _backend = null!;
    private GpuDevice[] _devices = null!;
    private NvmlOptionalApi _api = null!;
    private CancellationTokenSource _cts = null!;

    [GlobalSetup]
    public unsafe void Setup()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "libexofakegpu.so");
        var reset = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(NativeLibrary.Load(path), "fake_reset");
        reset(Devices);
        _backend = new NvmlGpuBackend(new NvmlGpuBackendOptions
        {
            NvmlLibraryPath = path,
            CudaLibraryPath = path,
            CudaVisibleDevices = null,
            ProcessEnvironment = _ => null,
        });
        _devices = [.. _backend.DiscoverAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult()];
        if (_devices.Length != Devices)
        {
            throw new InvalidOperationException($"the fake should list {Devices} devices, got {_devices.Length}");
        }

        _api = NativeBinding.BindNvml([path]).Optional;
        for (var i = 0; i < Devices; i++)
        {
            nint handle;
            if (NvmlNative.DeviceGetHandleByIndex((uint)i, &handle) != NvmlReturn.Success)
            {
                throw new InvalidOperationException("nvmlDeviceGetHandleByIndex_v2 failed");
            }

            _handles[i] = handle;
        }

        _cts = new CancellationTokenSource();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _backend.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _cts.Dispose();
    }

    [Benchmark(Baseline = true)]
    public double BareNativeCalls()
    {
        var sum = 0.0;
        foreach (var handle in _handles)
        {
            sum += BareSample(handle).UtilizationPercent ?? 0;
        }

        return sum;
    }

    [Benchmark]
    public double PollEightDevices()
    {
        var sum = 0.0;
        foreach (var device in _devices)
        {
            var reading = _backend.SampleAsync(device, CancellationToken.None);
            if (!reading.IsCompletedSuccessfully)
            {
                throw new InvalidOperationException("without a cancellable token the reading completes synchronously");
            }

            sum += reading.Result.UtilizationPercent ?? 0;
        }

        return sum;
    }

    /// <summary>With a cancellable token each reading runs on a pool thread so a hung driver call can be abandoned.</summary>
    [Benchmark]
    public async Task<double> PollEightDevicesCancellable()
    {
        var sum = 0.0;
        foreach (var device in _devices)
        {
            sum += (await _backend.SampleAsync(device, _cts.Token).ConfigureAwait(false)).UtilizationPercent ?? 0;
        }

        return sum;
    }

    private unsafe GpuSample BareSample(nint handle)
    {
        var timestamp = TimeProvider.System.GetUtcNow();
        var memory = new NvmlMemoryV2 { Version = NvmlConstants.MemoryV2Version };
        _api.GetMemoryInfoV2(handle, &memory);
        NvmlUtilization utilization;
        NvmlNative.DeviceGetUtilizationRates(handle, &utilization);
        var temperature = new NvmlTemperatureV1 { Version = NvmlConstants.TemperatureV1Version };
        _api.GetTemperatureV(handle, &temperature);
        uint power, limit, clock;
        NvmlNative.DeviceGetPowerUsage(handle, &power);
        NvmlNative.DeviceGetEnforcedPowerLimit(handle, &limit);
        NvmlNative.DeviceGetClockInfo(handle, NvmlConstants.ClockSm, &clock);
        ulong reasons, corrected, uncorrected;
        _api.GetClocksEventReasons(handle, &reasons);
        NvmlNative.DeviceGetTotalEccErrors(handle, NvmlConstants.MemoryErrorCorrected, NvmlConstants.EccCounterVolatile, &corrected);
        NvmlNative.DeviceGetTotalEccErrors(handle, NvmlConstants.MemoryErrorUncorrected, NvmlConstants.EccCounterVolatile, &uncorrected);
        return new GpuSample
        {
            Timestamp = timestamp,
            MemoryUsedBytes = (long)memory.Used,
            MemoryTotalBytes = (long)memory.Total,
            UtilizationPercent = utilization.Gpu,
            MemoryUtilizationPercent = utilization.Memory,
            TemperatureC = temperature.Temperature,
            PowerW = power / 1000.0,
            PowerLimitW = limit / 1000.0,
            SmClockMHz = (int)clock,
            ClockEventReasons = (GpuClockEventReasons)reasons,
            EccCorrectedErrors = (long)corrected,
            EccUncorrectedErrors = (long)uncorrected,
        };
    }
}
