using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Logging;

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
/// select the devices as CUDA would.</para>
/// <para><b>Sampling.</b> <c>NOT_SUPPORTED</c> leaves that value <see langword="null"/>; <c>GPU_IS_LOST</c> throws
/// <see cref="GpuDeviceLostException"/>; any other error throws <see cref="GpuSamplingException"/> with the NVML name
/// and code. With a cancellable token the NVML calls run on a pool thread, so a hung driver call returns
/// <see cref="OperationCanceledException"/> when the token fires (a second reading of that device joins the hung one
/// instead of piling up threads); without one they run on the caller's thread.</para>
/// <para>Thread safe.</para>
/// </remarks>
public sealed class NvmlGpuBackend : IGpuBackend
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
    private DeviceTable? _table;
    private int _disposeState;
    private int _activeCalls;
    private bool _memoryV1Only;
    private bool _temperatureClassicOnly;

    /// <summary>Loads NVML (and the CUDA driver when present) and initializes NVML.</summary>
    /// <param name="options">The settings; defaults when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The options are invalid: a null clock or logger, an undefined device order, or an event wait timeout outside 1 ms to 1 minute (the message lists every problem).</exception>
    /// <exception cref="GpuBackendUnavailableException">
    /// NVML cannot be used: no library loads (the message names every path searched), the library lacks a required
    /// export, another NVML library is already bound in this process, or <c>nvmlInit_v2</c> fails (e.g.
    /// <c>NVML_ERROR_DRIVER_NOT_LOADED</c>); or <see cref="NvmlGpuBackendOptions.CudaLibraryPath"/> is set and cannot be used.
    /// </exception>
    public NvmlGpuBackend(NvmlGpuBackendOptions? options = null)
    {
        options ??= new NvmlGpuBackendOptions();
        NvmlGpuBackendOptionsValidator.ThrowIfInvalid(options, nameof(options));

        _time = options.TimeProvider;
        _logger = options.Logger;
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

        Log.Ready(_logger, _nvml.Path, DriverVersion, CudaDriverVersion, _cuda?.Path ?? "(none)");
    }

    /// <inheritdoc />
    public GpuBackendKind Kind => GpuBackendKind.Nvml;

    /// <summary>The NVIDIA driver version (e.g. <c>550.54.15</c>), or <see langword="null"/> when NVML cannot say.</summary>
    public string? DriverVersion { get; }

    /// <summary>The CUDA version the driver supports (e.g. <c>12.4</c>), or <see langword="null"/> when unknown.</summary>
    public string? CudaDriverVersion { get; }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (!cancellationToken.CanBeCanceled)
        {
            Enter();
            try
            {
                return new ValueTask<IReadOnlyList<GpuDevice>>(Discover().Visible);
            }
            finally
            {
                Exit();
            }
        }

        return DiscoverOffThreadAsync(cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        var entry = Find(device);
        cancellationToken.ThrowIfCancellationRequested();
        return cancellationToken.CanBeCanceled ? ReadOffThreadAsync(entry, cancellationToken) : new ValueTask<GpuSample>(ReadInline(entry));
    }

    /// <inheritdoc />
    /// <remarks>
    /// Registers the devices of the latest discovery (discovering first if none ran) for critical Xid, double-bit and
    /// single-bit ECC events, masked by what each supports, and waits on <c>nvmlEventSetWait_v2</c> on a dedicated thread,
    /// at most <see cref="NvmlGpuBackendOptions.EventWaitTimeout"/> at a time. Timeouts are routine. The application-error
    /// Xids 13, 31, 43, 45, 68 and 109 are not reported. A wait that reports a lost GPU yields a
    /// <see cref="GpuDeviceEventKind.Lost"/> event for each watched device that answers <c>GPU_IS_LOST</c> (for all of them
    /// when none does), once per device. The sequence completes at once where the driver has no event API or no device
    /// can be watched; otherwise it ends, and the event set is freed, when the token fires
    /// (<see cref="OperationCanceledException"/>) or the backend is disposed (no exception).
    /// </remarks>
    /// <exception cref="ObjectDisposedException">The backend was disposed before the enumeration began.</exception>
    /// <exception cref="GpuBackendUnavailableException">The first discovery failed.</exception>
    public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        var api = _nvml.Optional;
        if (!api.HasEvents)
        {
            Log.EventsUnavailable(_logger, "the driver does not export the NVML event API");
            yield break;
        }

        var table = Volatile.Read(ref _table) ?? await DiscoverTableAsync(cancellationToken).ConfigureAwait(false);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        Enter();
        NvmlEventWatcher? watcher;
        try
        {
            watcher = NvmlEventWatcher.Start(api, table.VisibleEntries, _eventWaitTimeout, _time, _logger, Exit, linked.Token);
        }
        catch
        {
            Exit();
            throw;
        }

        if (watcher is null)
        {
            yield break; // Start called Exit
        }

        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await watcher.Reader.WaitToReadAsync(linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    yield break; // disposed
                }

                if (!more)
                {
                    yield break;
                }

                while (watcher.Reader.TryRead(out var item))
                {
                    yield return item;
                }
            }
        }
        finally
        {
            await linked.CancelAsync().ConfigureAwait(false);
            await watcher.Completion.ConfigureAwait(false);
        }
    }

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
            Log.ShutdownSkipped(_logger, grace); // a call hung in the driver: better a leaked reference than a shutdown under it
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

    private static unsafe int? CudaAttribute(int attribute, int device)
    {
        var value = 0;
        return CudaNative.DeviceGetAttribute(&value, attribute, device) == 0 ? value : null;
    }

    private static int? Positive(long value) => value is > 0 and <= int.MaxValue ? (int)value : null;

    private static long Clamp(ulong value) => value > long.MaxValue ? long.MaxValue : (long)value;

    private unsafe static string FormatUuid(CuUuid* uuid)
    {
        var b = new ReadOnlySpan<byte>(uuid->Bytes, 16);
        return "GPU-" + Convert.ToHexStringLower(b[..4]) + "-" + Convert.ToHexStringLower(b[4..6]) + "-"
            + Convert.ToHexStringLower(b[6..8]) + "-" + Convert.ToHexStringLower(b[8..10]) + "-" + Convert.ToHexStringLower(b[10..]);
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

    /// <summary>True on success, false for NOT_SUPPORTED ("not available"); throws for anything else.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Ok(NvmlReturn code, string function, DeviceEntry entry)
    {
        if (code == NvmlReturn.Success)
        {
            return true;
        }

        if (code != NvmlReturn.NotSupported)
        {
            ThrowFailure(code, function, entry);
        }

        return false;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowFailure(NvmlReturn code, string function, DeviceEntry entry) => throw Failure(code, function, entry);

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

    private async ValueTask<IReadOnlyList<GpuDevice>> DiscoverOffThreadAsync(CancellationToken cancellationToken) =>
        (await DiscoverTableAsync(cancellationToken).ConfigureAwait(false)).Visible;

    private async ValueTask<DeviceTable> DiscoverTableAsync(CancellationToken cancellationToken)
    {
        Enter();
        var work = Task.Run(() =>
        {
            try
            {
                return Discover();
            }
            finally
            {
                Exit();
            }
        });
        return await work.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

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
            Log.CudaUnavailable(_logger, e.Message);
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

        Log.CudaUnavailable(_logger, reason);
        return (null, false);
    }

    /// <summary>Enumerates NVML and CUDA, joins them and applies the visibility rules. Inside the call gate.</summary>
    private unsafe DeviceTable Discover()
    {
        uint count = 0;
        var result = NvmlNative.DeviceGetCount(&count);
        if (result != NvmlReturn.Success)
        {
            throw new GpuBackendUnavailableException($"Discovery failed: nvmlDeviceGetCount_v2 returned {Describe(result)}.");
        }

        var facts = new List<NvmlFacts>((int)count);
        for (uint i = 0; i < count; i++)
        {
            if (ReadFacts(i) is { } f)
            {
                facts.Add(f);
            }
        }

        var cuda = EnumerateCuda();
        var joined = Join(facts, cuda);
        var visibility = facts.ConvertAll(f => new VisibilityDevice(
            f.Index, f.Uuid, f.PciKey, f.Cuda?.ComputeCapability ?? f.ComputeCapability, f.Cuda?.MultiprocessorCount));
        var byIndex = visibility.ToDictionary(v => v.NvmlIndex);
        var plan = CudaVisibility.Plan(
            visibility, joined?.ConvertAll(f => f is null ? null : byIndex[f.Index]), _requested, _process);

        var entries = new DeviceEntry?[count];
        var visible = new List<DeviceEntry>(plan.Count);
        var factsByIndex = facts.ToDictionary(f => f.Index);
        foreach (var (device, ordinal) in plan)
        {
            var f = factsByIndex[device.NvmlIndex];
            var total = f.TotalMemoryBytes ?? f.Cuda?.TotalMemoryBytes;
            if (total is not > 0)
            {
                Log.DeviceSkipped(_logger, f.Index, "nvmlDeviceGetMemoryInfo", new NvmlErrorName(NvmlReturn.NotSupported), (int)NvmlReturn.NotSupported);
                continue;
            }

            var gpu = new GpuDevice(f.Uuid, f.Index, f.Name, total.Value, GpuBackendKind.Nvml)
            {
                ComputeCapability = f.Cuda?.ComputeCapability ?? f.ComputeCapability,
                MultiprocessorCount = f.Cuda?.MultiprocessorCount,
                MaxSmClockMHz = f.MaxSmClockMHz,
                MaxMemoryClockMHz = f.MaxMemoryClockMHz ?? (f.Cuda?.MemoryClockKHz is int khz ? Positive(khz / 1000) : null),
                MemoryBusWidthBits = f.MemoryBusWidthBits ?? f.Cuda?.MemoryBusWidthBits,
                PciBusId = f.PciBusId,
                DriverVersion = DriverVersion,
                CudaOrdinal = ordinal,
                MigEnabled = f.MigEnabled,
            };
            var entry = new DeviceEntry(gpu, f.Handle);
            entries[f.Index] = entry;
            visible.Add(entry);
        }

        visible.Sort((a, b) => a.Device.Index.CompareTo(b.Device.Index));
        var table = new DeviceTable(entries, visible);
        lock (_discoveryGate)
        {
            foreach (var entry in visible)
            {
                _known[entry.Device.Uuid] = entry;
            }

            Volatile.Write(ref _table, table);
        }

        Log.Discovered(_logger, visible.Count, (int)count, _requested.VisibleDevices, _requested.Order);
        return table;
    }

    private unsafe NvmlFacts? ReadFacts(uint index)
    {
        nint handle = 0;
        var result = NvmlNative.DeviceGetHandleByIndex(index, &handle);
        if (result != NvmlReturn.Success)
        {
            Log.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetHandleByIndex_v2", new NvmlErrorName(result), (int)result);
            return null;
        }

        byte* text = stackalloc byte[NvmlConstants.DeviceUuidV2BufferSize];
        result = NvmlNative.DeviceGetUuid(handle, text, NvmlConstants.DeviceUuidV2BufferSize);
        if (result != NvmlReturn.Success)
        {
            Log.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetUUID", new NvmlErrorName(result), (int)result);
            return null;
        }

        var uuid = Utf8(text).Trim();
        if (uuid.Length == 0)
        {
            Log.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetUUID", new NvmlErrorName(NvmlReturn.NoData), (int)NvmlReturn.NoData);
            return null;
        }

        result = NvmlNative.DeviceGetName(handle, text, NvmlConstants.DeviceNameV2BufferSize);
        if (result != NvmlReturn.Success)
        {
            Log.DeviceSkipped(_logger, (int)index, "nvmlDeviceGetName", new NvmlErrorName(result), (int)result);
            return null;
        }

        var name = Utf8(text).Trim();
        var facts = new NvmlFacts((int)index, handle, uuid, name.Length > 0 ? name : "NVIDIA GPU");
        var api = _nvml.Optional;

        NvmlPciInfo pci;
        result = NvmlNative.DeviceGetPciInfo(handle, &pci);
        if (Fact(result, uuid, "nvmlDeviceGetPciInfo_v3"))
        {
            facts.PciBusId = Utf8(pci.BusId);
            facts.PciKey = PciBusIds.Normalize(facts.PciBusId);
        }

        var (memoryResult, memoryFunction) = ReadMemory(handle, api, out var total, out _);
        if (Fact(memoryResult, uuid, memoryFunction))
        {
            facts.TotalMemoryBytes = total;
        }

        int major = 0, minor = 0;
        if (api.GetCudaComputeCapability != null && Fact(api.GetCudaComputeCapability(handle, &major, &minor), uuid, "nvmlDeviceGetCudaComputeCapability")
            && major >= 1 && minor >= 0)
        {
            facts.ComputeCapability = new ComputeCapability(major, minor);
        }

        uint value = 0;
        if (Fact(NvmlNative.DeviceGetMaxClockInfo(handle, NvmlConstants.ClockSm, &value), uuid, "nvmlDeviceGetMaxClockInfo(SM)"))
        {
            facts.MaxSmClockMHz = Positive(value);
        }

        if (Fact(NvmlNative.DeviceGetMaxClockInfo(handle, NvmlConstants.ClockMem, &value), uuid, "nvmlDeviceGetMaxClockInfo(MEM)"))
        {
            facts.MaxMemoryClockMHz = Positive(value);
        }

        if (api.GetMemoryBusWidth != null && Fact(api.GetMemoryBusWidth(handle, &value), uuid, "nvmlDeviceGetMemoryBusWidth"))
        {
            facts.MemoryBusWidthBits = Positive(value);
        }

        uint pending = 0;
        if (api.GetMigMode != null && Fact(api.GetMigMode(handle, &value, &pending), uuid, "nvmlDeviceGetMigMode"))
        {
            facts.MigEnabled = value == 1;
        }

        return facts;
    }

    private bool Fact(NvmlReturn result, string uuid, string function)
    {
        if (result == NvmlReturn.Success)
        {
            return true;
        }

        Log.FactUnavailable(_logger, uuid, function, new NvmlErrorName(result));
        return false;
    }

    /// <summary>The CUDA enumeration, one entry per ordinal (null where a query failed); null without a usable CUDA driver.</summary>
    private unsafe List<CudaFacts?>? EnumerateCuda()
    {
        if (_cuda is null)
        {
            return null;
        }

        if (_cudaSeesNoDevice)
        {
            return [];
        }

        var count = 0;
        var result = CudaNative.DeviceGetCount(&count);
        if (result != 0)
        {
            Log.CudaUnavailable(_logger, string.Create(CultureInfo.InvariantCulture, $"cuDeviceGetCount returned {NvmlErrors.CudaName(result)} ({result})"));
            return null;
        }

        var list = new List<CudaFacts?>(count);
        for (var ordinal = 0; ordinal < count; ordinal++)
        {
            list.Add(ReadCudaFacts(ordinal));
        }

        return list;
    }

    private unsafe CudaFacts? ReadCudaFacts(int ordinal)
    {
        var device = 0;
        if (CudaNative.DeviceGet(&device, ordinal) != 0)
        {
            return null;
        }

        var api = _cuda!.Optional;
        string? uuid = null;
        CuUuid raw;
        if ((api.DeviceGetUuidV2 != null && api.DeviceGetUuidV2(&raw, device) == 0) || (api.DeviceGetUuid != null && api.DeviceGetUuid(&raw, device) == 0))
        {
            uuid = FormatUuid(&raw);
        }

        byte* bus = stackalloc byte[PciBusIdBufferSize];
        var pci = CudaNative.DeviceGetPciBusId(bus, PciBusIdBufferSize, device) == 0 ? PciBusIds.Normalize(Utf8(bus)) : null;
        var major = CudaAttribute(CuDeviceAttribute.ComputeCapabilityMajor, device);
        var minor = CudaAttribute(CuDeviceAttribute.ComputeCapabilityMinor, device);
        nuint total = 0;
        return new CudaFacts(
            ordinal,
            uuid,
            pci,
            major is >= 1 && minor is >= 0 ? new ComputeCapability(major.Value, minor.Value) : null,
            CudaAttribute(CuDeviceAttribute.MultiprocessorCount, device) is int sm ? Positive(sm) : null,
            CudaAttribute(CuDeviceAttribute.MemoryClockRateKHz, device) is int khz ? Positive(khz) : null,
            CudaAttribute(CuDeviceAttribute.GlobalMemoryBusWidth, device) is int width ? Positive(width) : null,
            api.DeviceTotalMem != null && api.DeviceTotalMem(&total, device) == 0 && total > 0 ? Clamp(total) : null);
    }

    /// <summary>Joins each CUDA ordinal to an NVML device by UUID, else by PCI bus id; per ordinal, the NVML facts or null.</summary>
    private List<NvmlFacts?>? Join(List<NvmlFacts> nvml, List<CudaFacts?>? cuda)
    {
        if (cuda is null)
        {
            return null;
        }

        var joined = new List<NvmlFacts?>(cuda.Count);
        foreach (var c in cuda)
        {
            NvmlFacts? match = null;
            if (c is not null)
            {
                match = nvml.Find(f => f.Cuda is null && c.Uuid is not null && string.Equals(f.Uuid, c.Uuid, StringComparison.OrdinalIgnoreCase))
                    ?? nvml.Find(f => f.Cuda is null && c.PciBusId is not null && string.Equals(f.PciKey, c.PciBusId, StringComparison.Ordinal));
                if (match is null)
                {
                    Log.CudaDeviceUnmatched(_logger, c.Ordinal, c.Uuid, c.PciBusId);
                }
                else
                {
                    match.Cuda = c;
                }
            }

            joined.Add(match);
        }

        return joined;
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
            Log.FallingBack(_logger, function, new NvmlErrorName(result), fallback);
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

    /// <summary>One reading of a device. Every call that fails other than with NOT_SUPPORTED fails the reading.</summary>
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

    /// <summary>A discovered device and its NVML handle (stable for the NVML session).</summary>
    internal sealed class DeviceEntry(GpuDevice device, nint handle)
    {
        /// <summary>A reading running on a pool thread, joined by the next reading while it has not returned.</summary>
        public Task<GpuSample>? Pending;

        public GpuDevice Device { get; } = device;

        public nint Handle { get; } = handle;
    }

    /// <summary>The result of one discovery: entries by NVML index (null where skipped or hidden) and the visible ones.</summary>
    private sealed class DeviceTable(DeviceEntry?[] byIndex, List<DeviceEntry> visible)
    {
        public DeviceEntry?[] ByIndex { get; } = byIndex;

        public IReadOnlyList<DeviceEntry> VisibleEntries { get; } = visible;

        public IReadOnlyList<GpuDevice> Visible { get; } = visible.ConvertAll(e => e.Device);
    }

    private sealed class NvmlFacts(int index, nint handle, string uuid, string name)
    {
        public int Index { get; } = index;

        public nint Handle { get; } = handle;

        public string Uuid { get; } = uuid;

        public string Name { get; } = name;

        public string? PciBusId { get; set; }

        public string? PciKey { get; set; }

        public long? TotalMemoryBytes { get; set; }

        public ComputeCapability? ComputeCapability { get; set; }

        public int? MaxSmClockMHz { get; set; }

        public int? MaxMemoryClockMHz { get; set; }

        public int? MemoryBusWidthBits { get; set; }

        public bool? MigEnabled { get; set; }

        public CudaFacts? Cuda { get; set; }
    }

    private sealed record CudaFacts(
        int Ordinal,
        string? Uuid,
        string? PciBusId,
        ComputeCapability? ComputeCapability,
        int? MultiprocessorCount,
        int? MemoryClockKHz,
        int? MemoryBusWidthBits,
        long? TotalMemoryBytes);
}
