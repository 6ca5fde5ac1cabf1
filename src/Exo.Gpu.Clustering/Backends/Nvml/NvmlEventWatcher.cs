using System.Threading.Channels;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>
/// One NVML event set and the dedicated thread that waits on it (<c>nvmlEventSetWait_v2</c> blocks, so it never runs on
/// a pool thread). Events go into a bounded channel (oldest dropped past 1,024). The thread notices its stop token within
/// one wait timeout, frees the event set, completes the channel and then <see cref="Completion"/>.
/// </summary>
internal sealed unsafe class NvmlEventWatcher
{
    /// <summary>The Xids of application errors (k8s-device-plugin's list): not a fault of the device.</summary>
    private static readonly ulong[] ApplicationXids = [13, 31, 43, 45, 68, 109];

    private const ulong WatchedTypes = NvmlConstants.EventXidCriticalError | NvmlConstants.EventDoubleBitEccError | NvmlConstants.EventSingleBitEccError;

    private readonly NvmlOptionalApi _api;
    private readonly nint _set;
    private readonly Dictionary<nint, NvmlGpuBackend.DeviceEntry> _devices;
    private readonly HashSet<string> _reportedLost = new(StringComparer.Ordinal);
    private readonly uint _timeoutMs;
    private readonly TimeSpan _backoff;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action _exit;
    private readonly CancellationToken _stop;
    private readonly Channel<GpuDeviceEvent> _channel = Channel.CreateBounded<GpuDeviceEvent>(
        new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = true });

    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private NvmlEventWatcher(
        NvmlOptionalApi api, nint set, Dictionary<nint, NvmlGpuBackend.DeviceEntry> devices, TimeSpan timeout, TimeProvider time, ILogger logger, Action exit, CancellationToken stop)
    {
        _api = api;
        _set = set;
        _devices = devices;
        _timeoutMs = (uint)Math.Max(1, timeout.TotalMilliseconds);
        _backoff = timeout;
        _time = time;
        _logger = logger;
        _exit = exit;
        _stop = stop;
    }

    /// <summary>The events, in the order observed; completes when the thread ends.</summary>
    public ChannelReader<GpuDeviceEvent> Reader => _channel.Reader;

    /// <summary>Completes once the thread has freed the event set.</summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// Creates an event set, registers every device for the watched types it supports and starts the thread; or, when no
    /// device can be watched, frees the set, calls <paramref name="exit"/> and returns <see langword="null"/>.
    /// The thread calls <paramref name="exit"/> when it ends.
    /// </summary>
    public static NvmlEventWatcher? Start(
        NvmlOptionalApi api,
        IReadOnlyList<NvmlGpuBackend.DeviceEntry> entries,
        TimeSpan timeout,
        TimeProvider time,
        ILogger logger,
        Action exit,
        CancellationToken stop)
    {
        nint set = 0;
        var result = api.EventSetCreate(&set);
        if (result != NvmlReturn.Success)
        {
            NvmlLog.EventSetCreateFailed(logger, new NvmlErrorName(result));
            exit();
            return null;
        }

        var devices = new Dictionary<nint, NvmlGpuBackend.DeviceEntry>();
        foreach (var entry in entries)
        {
            ulong supported = 0;
            result = api.GetSupportedEventTypes(entry.Handle, &supported);
            if (result != NvmlReturn.Success)
            {
                NvmlLog.EventRegistrationFailed(logger, entry.Device.Uuid, "nvmlDeviceGetSupportedEventTypes", NvmlErrors.Name(result));
                continue;
            }

            var types = supported & WatchedTypes;
            if (types == 0)
            {
                NvmlLog.EventRegistrationFailed(logger, entry.Device.Uuid, "nvmlDeviceGetSupportedEventTypes", "no watched event type supported");
                continue;
            }

            result = api.RegisterEvents(entry.Handle, types, set);
            if (result != NvmlReturn.Success)
            {
                NvmlLog.EventRegistrationFailed(logger, entry.Device.Uuid, "nvmlDeviceRegisterEvents", NvmlErrors.Name(result));
                continue;
            }

            devices[entry.Handle] = entry;
        }

        if (devices.Count == 0)
        {
            api.EventSetFree(set);
            NvmlLog.EventsUnavailable(logger, "no device could be registered for events");
            exit();
            return null;
        }

        var watcher = new NvmlEventWatcher(api, set, devices, timeout, time, logger, exit, stop);
        var thread = new Thread(watcher.Run) { IsBackground = true, Name = "exo-gpu NVML events" };
        thread.Start();
        return watcher;
    }

    private void Run()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                NvmlEventData data;
                var result = _api.EventSetWait(_set, &data, _timeoutMs);
                switch (result)
                {
                    case NvmlReturn.Success:
                        Deliver(data);
                        break;
                    case NvmlReturn.Timeout:
                        break;
                    case NvmlReturn.GpuIsLost:
                        ReportLost();
                        Backoff();
                        break;
                    default:
                        NvmlLog.EventWaitFailed(_logger, new NvmlErrorName(result), (int)result);
                        Backoff();
                        break;
                }
            }
        }
        finally
        {
            _api.EventSetFree(_set);
            _channel.Writer.TryComplete();
            _exit();
            _completion.TrySetResult();
        }
    }

    private void Deliver(NvmlEventData data)
    {
        if (!_devices.TryGetValue(data.Device, out var entry))
        {
            NvmlLog.UnknownEventDevice(_logger);
            return;
        }

        var uuid = entry.Device.Uuid;
        var now = _time.GetUtcNow();
        if ((data.EventType & NvmlConstants.EventXidCriticalError) != 0)
        {
            if (Array.IndexOf(ApplicationXids, data.EventData) >= 0)
            {
                NvmlLog.XidSkipped(_logger, uuid, data.EventData);
            }
            else
            {
                NvmlLog.CriticalXid(_logger, uuid, data.EventData);
                _channel.Writer.TryWrite(new GpuDeviceEvent(uuid, GpuDeviceEventKind.CriticalXid, (long)Math.Min(data.EventData, long.MaxValue), now));
            }
        }

        if ((data.EventType & NvmlConstants.EventDoubleBitEccError) != 0)
        {
            _channel.Writer.TryWrite(new GpuDeviceEvent(uuid, GpuDeviceEventKind.DoubleBitEccError, 0, now));
        }

        if ((data.EventType & NvmlConstants.EventSingleBitEccError) != 0)
        {
            _channel.Writer.TryWrite(new GpuDeviceEvent(uuid, GpuDeviceEventKind.SingleBitEccError, 0, now));
        }
    }

    /// <summary>
    /// The wait said a GPU fell off the bus but not which: each watched device is asked for its memory, and those that
    /// answer GPU_IS_LOST are reported; when none does, every device not yet reported is (as k8s-device-plugin does).
    /// </summary>
    private void ReportLost()
    {
        var lost = new List<NvmlGpuBackend.DeviceEntry>();
        foreach (var entry in _devices.Values)
        {
            NvmlMemory memory;
            if (NvmlNative.DeviceGetMemoryInfo(entry.Handle, &memory) == NvmlReturn.GpuIsLost)
            {
                lost.Add(entry);
            }
        }

        if (lost.Count == 0)
        {
            lost.AddRange(_devices.Values);
        }

        var now = _time.GetUtcNow();
        var reported = new List<string>();
        foreach (var entry in lost)
        {
            if (_reportedLost.Add(entry.Device.Uuid))
            {
                reported.Add(entry.Device.Uuid);
                _channel.Writer.TryWrite(new GpuDeviceEvent(entry.Device.Uuid, GpuDeviceEventKind.Lost, 0, now));
            }
        }

        if (reported.Count > 0)
        {
            NvmlLog.GpuLost(_logger, string.Join(", ", reported));
        }
    }

    private void Backoff()
    {
        try
        {
            Task.Delay(_backoff, _time, _stop).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }
}
