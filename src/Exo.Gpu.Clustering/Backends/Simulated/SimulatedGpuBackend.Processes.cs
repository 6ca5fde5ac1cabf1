using System.Globalization;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends.Simulated;

public sealed partial class SimulatedGpuBackend
{
    /// <summary>The pid of device 0's background process; each device has a block of 16 pids from here.</summary>
    internal const int FirstSimulatedPid = 4100;

    /// <summary>The user every simulated process runs as.</summary>
    internal const string SimulatedUser = "sim";

    /// <summary>
    /// The processes of a device, as pure a function of the clock as the readings: a background process (<c>python3</c>)
    /// holding the load-following part of the memory in use while the background load is at least 5 %, and a job
    /// (<c>exo-sim-job</c>) holding the memory of the workload set with <see cref="SetWorkload"/>. The rest of the memory
    /// in use (2 % of the total) is the driver's own, as on a real GPU. Pids are fixed per device
    /// (<see cref="FirstSimulatedPid"/> + 16 × index, + 1 for the job); the user is <c>sim</c>.
    /// </summary>
    /// <param name="device">A device of this cluster.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The processes, ordered by pid.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="device"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="device"/> does not belong to this cluster.</exception>
    /// <exception cref="GpuDeviceLostException">The fault plan has the device lost now.</exception>
    /// <exception cref="GpuSamplingException">The fault plan has the device's readings failing now.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    /// <exception cref="ObjectDisposedException">The backend was disposed.</exception>
    public ValueTask<IReadOnlyList<GpuProcess>?> GetProcessesAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        var index = device.Index;
        if ((uint)index >= (uint)_devices.Length || !_devices[index].Equals(device))
        {
            throw new ArgumentException($"Device {device.Uuid} does not belong to this simulated cluster.", nameof(device));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var elapsed = Elapsed();
        if (ActiveFault(index, SimulatedFaultKind.Lost, elapsed) is not null)
        {
            throw new GpuDeviceLostException(device.Uuid, $"Simulated device {index} ({device.Uuid}) is lost.");
        }

        if (ActiveFault(index, SimulatedFaultKind.Throw, elapsed) is not null)
        {
            throw new GpuSamplingException(
                string.Create(CultureInfo.InvariantCulture, $"Simulated process-list failure on device {index} ({device.Uuid})."), "SIMULATED_ERROR_UNKNOWN", 999);
        }

        return new ValueTask<IReadOnlyList<GpuProcess>?>(Processes(index, elapsed));
    }

    /// <summary>The processes of device <paramref name="index"/> at a time since creation; pure.</summary>
    internal GpuProcess[] Processes(int index, TimeSpan elapsed)
    {
        var spec = _specs[index];
        var background = BackgroundUtilization(index, _waves[index], elapsed.TotalSeconds);
        var work = Volatile.Read(ref _workloads[index]);
        var processes = new List<GpuProcess>(2);
        var backgroundBytes = 0L;
        if (background >= 5)
        {
            // Whole MiB, as drivers report.
            backgroundBytes = (long)(spec.TotalMemoryBytes * 0.10 * background / 100) & ~((1L << 20) - 1);
            processes.Add(new GpuProcess(FirstSimulatedPid + (16 * index), GpuProcessKind.Compute, backgroundBytes)
            {
                Name = "python3",
                User = SimulatedUser,
            });
        }

        if (work is { } job && (job.MemoryBytes > 0 || job.UtilizationPercent > 0))
        {
            var room = Math.Max(0, spec.TotalMemoryBytes - (long)(spec.TotalMemoryBytes * 0.02) - backgroundBytes);
            processes.Add(new GpuProcess(FirstSimulatedPid + (16 * index) + 1, GpuProcessKind.Compute, Math.Min(job.MemoryBytes, room))
            {
                Name = "exo-sim-job",
                User = SimulatedUser,
            });
        }

        return [.. processes];
    }
}
