using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>
/// The backend for real NVIDIA GPUs: NVML for identity and telemetry, the CUDA driver API for CUDA ordinals and
/// multiprocessor counts, both bound with source-generated <see cref="LibraryImportAttribute"/> stubs.
/// </summary>
/// <remarks>
/// <para><b>Loading.</b> The constructor loads <c>libnvidia-ml.so.1</c> (<c>nvml.dll</c> on Windows) or
/// <see cref="NvmlGpuBackendOptions.NvmlLibraryPath"/>, checks that it exports every call the backend makes, and calls
/// <c>nvmlInit_v2</c> (reference counted; <see cref="DisposeAsync"/> calls <c>nvmlShutdown</c>). The CUDA driver
/// (<c>libcuda.so.1</c>, <c>nvcuda.dll</c>) is optional unless a path is set. The stubs bind once per process, so every
/// backend of a process uses the same libraries. Symbols that older drivers lack (<c>nvmlDeviceGetMemoryInfo_v2</c>,
/// <c>nvmlDeviceGetCurrentClocksEventReasons</c>, <c>nvmlDeviceGetTemperatureV</c>, the event API) are probed once and
/// replaced by their older forms (<c>nvmlDeviceGetMemoryInfo</c>, <c>nvmlDeviceGetCurrentClocksThrottleReasons</c>,
/// <c>nvmlDeviceGetTemperature</c>) or left out.</para>
/// <para><b>No CUDA context.</b> Nothing here creates one (a context costs hundreds of MB per GPU): memory comes from
/// <c>nvmlDeviceGetMemoryInfo_v2</c>, whose <c>used</c> excludes the driver's reserved memory, as <c>nvidia-smi</c> shows it.</para>
/// <para><b>Discovery.</b> Devices are keyed by UUID; <see cref="GpuDevice.Index"/> is the NVML index and
/// <see cref="GpuDevice.CudaOrdinal"/> the CUDA ordinal, joined by UUID or else by PCI bus id, because the two numberings
/// differ. <see cref="NvmlGpuBackendOptions.CudaVisibleDevices"/> and <see cref="NvmlGpuBackendOptions.CudaDeviceOrder"/>
/// select the devices as CUDA would. CUDA lists a MIG-enabled GPU's MIG devices, not the GPU: such a GPU has no CUDA
/// ordinal or SM count here, and when NVML refuses its memory (<c>NO_PERMISSION</c>) its total is what its MIG devices
/// hold together, never one slice's. <c>cuInit</c> answering <c>CUDA_ERROR_NO_DEVICE</c> hides every device only when
/// this process's <c>CUDA_VISIBLE_DEVICES</c> hides them all; otherwise (the CUDA driver cannot reach the kernel driver)
/// the NVML devices are listed without CUDA ordinals, and the log says why.</para>
/// <para><b>Sampling.</b> <c>NOT_SUPPORTED</c>, <c>NO_PERMISSION</c> and <c>NO_DATA</c> leave that value
/// <see langword="null"/> and the rest of the reading stands (a MIG-enabled GPU's utilization, its memory in an
/// unprivileged container; the last two are logged once per device and call); <c>GPU_IS_LOST</c> throws
/// <see cref="GpuDeviceLostException"/>; any other error throws <see cref="GpuSamplingException"/> with the NVML name
/// and code. With a cancellable token the NVML calls run on a pool thread, so a hung driver call returns
/// <see cref="OperationCanceledException"/> when the token fires (a second reading of that device joins the hung one
/// instead of piling up threads); without one they run on the caller's thread.</para>
/// <para>Thread safe.</para>
/// </remarks>
public sealed partial class NvmlGpuBackend : IGpuBackend
{
    private const int PciBusIdBufferSize = 64;

    private readonly BoundLibrary<NvmlOptionalApi> _nvml;
    private readonly BoundLibrary<CudaOptionalApi>? _cuda;
    private readonly bool _cudaSeesNoDevice;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CudaVisibilitySettings _requested;
    private readonly CudaVisibilitySettings _process;
    private readonly TimeSpan _eventWaitTimeout;
    private readonly CancellationTokenSource _disposed = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<string, DeviceEntry> _known = new(StringComparer.Ordinal);
    private readonly Lock _discoveryGate = new();
    private DiscoveredDevices? _table;
    private int _disposeState;
    private int _activeCalls;
    private bool _memoryV1Only;
    private bool _temperatureClassicOnly;

    /// <summary>Loads NVML (and the CUDA driver when present) and initializes NVML.</summary>
    /// <param name="options">The settings; defaults when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock that timestamps readings and events and times back-offs; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <param name="loggerFactory">Where the backend logs (category <see cref="NvmlGpuBackend"/>); nothing is logged when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The options are invalid: an undefined device order, or an event wait timeout outside 1 ms to 1 minute (the message lists every problem).</exception>
    /// <exception cref="GpuBackendUnavailableException">
    /// NVML cannot be used: no library loads (the message names every path searched), the library lacks a required
    /// export, another NVML library is already bound in this process, or <c>nvmlInit_v2</c> fails (e.g.
    /// <c>NVML_ERROR_DRIVER_NOT_LOADED</c>); or <see cref="NvmlGpuBackendOptions.CudaLibraryPath"/> is set and cannot be used.
    /// </exception>
    public NvmlGpuBackend(NvmlGpuBackendOptions? options = null, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null)
    {
        options ??= new NvmlGpuBackendOptions();
        NvmlGpuBackendOptionsValidator.ThrowIfInvalid(options, nameof(options));

        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)loggerFactory?.CreateLogger<NvmlGpuBackend>() ?? NullLogger.Instance;
        _eventWaitTimeout = options.EventWaitTimeout;
        var environment = options.ProcessEnvironment ?? Environment.GetEnvironmentVariable;
        _requested = new CudaVisibilitySettings(options.CudaVisibleDevices, options.CudaDeviceOrder);
        _process = new CudaVisibilitySettings(
            environment("CUDA_VISIBLE_DEVICES"), CudaVisibilitySettings.ParseOrder(environment("CUDA_DEVICE_ORDER")));

        _nvml = NativeBinding.BindNvml(options.NvmlLibraryPath is { } nvmlPath ? [nvmlPath] : NativeBinding.DefaultNvmlCandidates());
        var init = NvmlNative.Init();
        if (init != NvmlReturn.Success)
        {
            throw new GpuBackendUnavailableException($"NVML at '{_nvml.Path}' loaded, but nvmlInit_v2 failed: {Describe(init)}.");
        }

        try
        {
            DriverVersion = ReadDriverVersion();
            (_cuda, _cudaSeesNoDevice) = LoadCuda(options.CudaLibraryPath, options.CudaSearchPaths ?? NativeBinding.DefaultCudaCandidates());
            CudaDriverVersion = ReadCudaVersion();
        }
        catch
        {
            NvmlNative.Shutdown();
            throw;
        }

        NvmlLog.Ready(_logger, _nvml.Path, DriverVersion, CudaDriverVersion, _cuda?.Path ?? "(none)");
    }

    /// <inheritdoc />
    public GpuBackendKind Kind => GpuBackendKind.Nvml;

    /// <summary>The NVIDIA driver version (e.g. <c>550.54.15</c>), or <see langword="null"/> when NVML cannot say.</summary>
    public string? DriverVersion { get; }

    /// <summary>The CUDA version the driver supports (e.g. <c>12.4</c>), or <see langword="null"/> when unknown.</summary>
    public string? CudaDriverVersion { get; }

    /// <summary>
    /// Stops event watching (within one <see cref="NvmlGpuBackendOptions.EventWaitTimeout"/>), waits for NVML calls in
    /// flight, and calls <c>nvmlShutdown</c>. Idempotent.
    /// </summary>
    /// <returns>A task that completes when the backend has shut down.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeState, 1) != 0)
        {
            return;
        }

        await _disposed.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _activeCalls) == 0)
        {
            _drained.TrySetResult();
        }

        var grace = TimeSpan.FromSeconds(5) + _eventWaitTimeout + _eventWaitTimeout;
        try
        {
            await _drained.Task.WaitAsync(grace, _time).ConfigureAwait(false);
            NvmlNative.Shutdown();
        }
        catch (TimeoutException)
        {
            NvmlLog.ShutdownSkipped(_logger, grace); // a call hung in the driver: better a leaked reference than a shutdown under it
        }

        _disposed.Dispose();
    }

    private unsafe static string Utf8(byte* text) => Encoding.UTF8.GetString(MemoryMarshal.CreateReadOnlySpanFromNullTerminated(text));

    private static string Describe(NvmlReturn code)
    {
        var message = Marshal.PtrToStringUTF8(NvmlNative.ErrorString(code));
        return string.IsNullOrEmpty(message)
            ? string.Create(CultureInfo.InvariantCulture, $"{NvmlErrors.Name(code)} ({(int)code})")
            : string.Create(CultureInfo.InvariantCulture, $"{NvmlErrors.Name(code)} ({(int)code}): {message}");
    }

    private static long Clamp(ulong value) => value > long.MaxValue ? long.MaxValue : (long)value;

    private void Enter()
    {
        Interlocked.Increment(ref _activeCalls);
        if (Volatile.Read(ref _disposeState) != 0)
        {
            Exit();
            throw new ObjectDisposedException(nameof(NvmlGpuBackend));
        }
    }

    private void Exit()
    {
        if (Interlocked.Decrement(ref _activeCalls) == 0 && Volatile.Read(ref _disposeState) != 0)
        {
            _drained.TrySetResult();
        }
    }

    private unsafe string? ReadDriverVersion()
    {
        byte* buffer = stackalloc byte[NvmlConstants.SystemDriverVersionBufferSize];
        return NvmlNative.SystemGetDriverVersion(buffer, NvmlConstants.SystemDriverVersionBufferSize) == NvmlReturn.Success
            ? Utf8(buffer)
            : null;
    }

    private unsafe string? ReadCudaVersion()
    {
        var version = 0;
        var api = _nvml.Optional;
        if (api.SystemGetCudaDriverVersion == null || api.SystemGetCudaDriverVersion(&version) != NvmlReturn.Success)
        {
            if (_cuda is null || CudaNative.DriverGetVersion(&version) != 0)
            {
                return null;
            }
        }

        return version > 0 ? string.Create(CultureInfo.InvariantCulture, $"{version / 1000}.{version % 1000 / 10}") : null;
    }

    private (BoundLibrary<CudaOptionalApi>? Cuda, bool SeesNoDevice) LoadCuda(string? configuredPath, IReadOnlyList<string> defaults)
    {
        BoundLibrary<CudaOptionalApi> cuda;
        try
        {
            cuda = NativeBinding.BindCuda(configuredPath is null ? defaults : [configuredPath]);
        }
        catch (GpuBackendUnavailableException e) when (configuredPath is null)
        {
            NvmlLog.CudaUnavailable(_logger, e.Message);
            return (null, false);
        }

        var result = CudaNative.Init(0);
        if (result == 0)
        {
            return (cuda, false);
        }

        if (result == 100)
        {
            return (cuda, true); // CUDA_ERROR_NO_DEVICE: the driver sees no device (e.g. CUDA_VISIBLE_DEVICES hides them all)
        }

        var reason = string.Create(CultureInfo.InvariantCulture, $"cuInit at '{cuda.Path}' returned {NvmlErrors.CudaName(result)} ({result})");
        if (configuredPath is not null)
        {
            throw new GpuBackendUnavailableException($"The CUDA driver library {reason}.");
        }

        NvmlLog.CudaUnavailable(_logger, reason);
        return (null, false);
    }

    /// <summary>A discovered device and its NVML handle (stable for the NVML session).</summary>
    internal sealed class DeviceEntry(GpuDevice device, nint handle)
    {
        /// <summary>A reading running on a pool thread, joined by the next reading while it has not returned.</summary>
        public Task<GpuSample>? Pending;

        /// <summary>The calls whose NO_PERMISSION / NO_DATA answers were logged already (one log per device and call).</summary>
        private readonly HashSet<(string Function, NvmlReturn Code)> _noted = [];

        public GpuDevice Device { get; } = device;

        public nint Handle { get; } = handle;

        /// <summary>Records that <paramref name="function"/> answered <paramref name="code"/>; true the first time.</summary>
        public bool NoteUnavailable(string function, NvmlReturn code)
        {
            lock (_noted)
            {
                return _noted.Add((function, code));
            }
        }
    }
}
