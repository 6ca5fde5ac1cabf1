using System.Buffers.Binary;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends.Nvml;

public sealed partial class NvmlGpuBackend
{
    /// <summary>How often a list is asked again when it grew between the count and the copy.</summary>
    private const int ProcessListAttempts = 4;

    /// <inheritdoc />
    /// <remarks>
    /// Calls <c>nvmlDeviceGetComputeRunningProcesses_v3</c> and <c>nvmlDeviceGetGraphicsRunningProcesses_v3</c> (probed
    /// when the library was bound; never called by sampling) and merges them by pid. Each list is asked for its size
    /// first (<c>INSUFFICIENT_SIZE</c> with the count), then copied into room for twice as many and five more. The entry
    /// size follows the driver (24 bytes; 32 on the early R535 drivers that wrote <c>nvmlProcessDetail_v1_t</c>). Names and
    /// users come from <c>/proc</c>. <see langword="null"/> when the driver exports neither call or answers
    /// <c>NOT_SUPPORTED</c>/<c>NO_PERMISSION</c> to both; <c>GPU_IS_LOST</c> throws <see cref="GpuDeviceLostException"/>,
    /// any other error <see cref="GpuSamplingException"/>. With a cancellable token the calls run on a pool thread.
    /// </remarks>
    public ValueTask<IReadOnlyList<GpuProcess>?> GetProcessesAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        var entry = Find(device);
        cancellationToken.ThrowIfCancellationRequested();
        if (!cancellationToken.CanBeCanceled)
        {
            return new ValueTask<IReadOnlyList<GpuProcess>?>(ReadProcessesGated(entry));
        }

        Enter();
        var call = Task.Run<IReadOnlyList<GpuProcess>?>(() =>
        {
            try
            {
                return ReadProcesses(entry);
            }
            finally
            {
                Exit();
            }
        });
        return new ValueTask<IReadOnlyList<GpuProcess>?>(call.WaitAsync(cancellationToken));
    }

    private GpuProcess[]? ReadProcessesGated(DeviceEntry entry)
    {
        Enter();
        try
        {
            return ReadProcesses(entry);
        }
        finally
        {
            Exit();
        }
    }

    private unsafe GpuProcess[]? ReadProcesses(DeviceEntry entry)
    {
        var api = _nvml.Optional;
        var found = new SortedDictionary<int, (GpuProcessKind Kind, long? Memory)>();
        var compute = ReadList(entry, api.GetComputeRunningProcesses, "nvmlDeviceGetComputeRunningProcesses_v3", api.ProcessInfoStride, GpuProcessKind.Compute, found);
        var graphics = ReadList(entry, api.GetGraphicsRunningProcesses, "nvmlDeviceGetGraphicsRunningProcesses_v3", api.ProcessInfoStride, GpuProcessKind.Graphics, found);
        if (!compute && !graphics)
        {
            return null;
        }

        var proc = new ProcFs();
        var result = new GpuProcess[found.Count];
        var i = 0;
        foreach (var (pid, (kind, memory)) in found)
        {
            result[i++] = new GpuProcess(pid, kind, memory) { Name = proc.Name(pid), User = proc.User(pid) };
        }

        return result;
    }

    /// <summary>Reads one process list into <paramref name="found"/>; false when this driver or device cannot list it.</summary>
    private static unsafe bool ReadList(
        DeviceEntry entry,
        delegate* unmanaged<nint, uint*, byte*, NvmlReturn> call,
        string function,
        int stride,
        GpuProcessKind kind,
        SortedDictionary<int, (GpuProcessKind Kind, long? Memory)> found)
    {
        if (call == null)
        {
            return false;
        }

        uint count = 0;
        var result = call(entry.Handle, &count, null);
        for (var attempt = 0; result == NvmlReturn.InsufficientSize && attempt < ProcessListAttempts; attempt++)
        {
            var room = (count * 2) + 5;
            var buffer = new byte[checked((int)room * stride)];
            count = room;
            fixed (byte* infos = buffer)
            {
                result = call(entry.Handle, &count, infos);
            }

            if (result == NvmlReturn.Success)
            {
                var entries = (int)Math.Min(count, room);
                for (var i = 0; i < entries; i++)
                {
                    var info = buffer.AsSpan(i * stride, NvmlProcessInfoLayout.V2Size);
                    var pid = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(info), int.MaxValue);
                    var used = BinaryPrimitives.ReadUInt64LittleEndian(info[8..]);
                    long? memory = used == NvmlProcessInfoLayout.MemoryNotAvailable ? null : Clamp(used);
                    found[pid] = found.TryGetValue(pid, out var seen)
                        ? (seen.Kind | kind, Max(seen.Memory, memory))
                        : (kind, memory);
                }

                return true;
            }
        }

        if (result == NvmlReturn.Success)
        {
            return true; // no process
        }

        if (result is NvmlReturn.NotSupported or NvmlReturn.NoPermission)
        {
            return false;
        }

        throw Failure(result, function, entry);
    }

    private static long? Max(long? a, long? b) => a is null ? b : b is null ? a : Math.Max(a.Value, b.Value);
}
