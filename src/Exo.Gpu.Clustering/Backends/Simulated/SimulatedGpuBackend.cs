using System.Globalization;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Backends.Simulated;

/// <summary>
/// A deterministic simulated cluster: the library's default backend where no NVIDIA driver is present.
/// </summary>
/// <remarks>
/// <para>Every reading is a pure function of the seed, the device, the time since creation (read from the
/// <see cref="TimeProvider"/>), the workload set with <see cref="SetWorkload"/> and the fault plan, so the same seed and
/// clock give the same readings bit for bit, however often or in whatever order devices are sampled.</para>
/// <para>The load model: background utilization wanders smoothly around the device's base load (two slow waves plus
/// interpolated noise); memory in use follows it; temperature follows the load of the last half minute; power moves
/// between idle and the limit with load; clocks drop to idle below 5 % load.</para>
/// <para>Thread safe. Faults follow the fault plan (<see cref="SimulatedGpuBackendOptions.Faults"/>).</para>
/// </remarks>
public sealed partial class SimulatedGpuBackend : IGpuBackend
{
    private const double AmbientC = 28;
    private const int IdleSmClockMHz = 345;

    private readonly TimeProvider _time;
    private readonly DateTimeOffset _start;
    private readonly ulong _seed;
    private readonly SimulatedDeviceSpec[] _specs;
    private readonly GpuDevice[] _devices;
    private readonly SimulatedFault[] _faults;
    private readonly Workload?[] _workloads;

    /// <summary>Per device: the constants of its background load, computed once (they depend only on the seed and the device).</summary>
    private readonly Wave[] _waves;

    /// <summary>Per device: whether the fault plan names it (a device without faults skips every fault check).</summary>
    private readonly bool[] _hasFaults;
    private readonly CancellationTokenSource _disposed = new();
    private int _disposeState;

    /// <summary>Creates a simulated cluster from bindable options.</summary>
    /// <param name="options">The settings; defaults (8 homogeneous devices, seed 1, no faults) when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock of every reading, fault and delay; <see cref="TimeProvider.System"/> when <see langword="null"/>. Tests pass a fake one.</param>
    /// <exception cref="ArgumentException">The options are invalid: a device count outside 1 to 1,024, an undefined profile, a fault plan that does not parse or names a device the cluster lacks (the message lists every problem).</exception>
#pragma warning disable RS0026 // Both constructors default the clock; the first parameters differ in type, so no call is ambiguous.
    public SimulatedGpuBackend(SimulatedGpuBackendOptions? options = null, TimeProvider? timeProvider = null)
#pragma warning restore RS0026
        : this(Setup.From(options ?? new SimulatedGpuBackendOptions()), timeProvider)
    {
    }

    /// <summary>Creates a simulated cluster of the given devices (custom specs).</summary>
    /// <param name="profile">The devices (<see cref="SimulatedClusterProfile.Custom"/>, or a built-in profile).</param>
    /// <param name="faultPlan">Faults to inject, timed from the backend's creation (<see cref="SimulatedFaultPlan.None"/> for none); each names a device of <paramref name="profile"/>.</param>
    /// <param name="seed">The seed of every random choice (any value).</param>
    /// <param name="timeProvider">The clock of every reading, fault and delay; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="profile"/> or <paramref name="faultPlan"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">A fault names a device <paramref name="profile"/> lacks (the message lists every one).</exception>
#pragma warning disable RS0026 // See the first constructor.
    public SimulatedGpuBackend(SimulatedClusterProfile profile, SimulatedFaultPlan faultPlan, int seed = SimulatedGpuBackendOptions.DefaultSeed, TimeProvider? timeProvider = null)
#pragma warning restore RS0026
        : this(new Setup(profile, faultPlan, seed), timeProvider)
    {
    }

    private SimulatedGpuBackend(Setup setup, TimeProvider? timeProvider)
    {
        SimulatedGpuBackendOptionsValidator.ThrowIfInvalid(setup.Profile, setup.FaultPlan);
        _specs = [.. setup.Profile.Devices];
        _time = timeProvider ?? TimeProvider.System;
        _start = _time.GetUtcNow();
        _seed = unchecked((ulong)setup.Seed);
        _faults = [.. setup.FaultPlan.Faults];
        _workloads = new Workload?[_specs.Length];
        _waves = new Wave[_specs.Length];
        _hasFaults = new bool[_specs.Length];
        foreach (var fault in _faults)
        {
            _hasFaults[fault.DeviceIndex] = true;
        }

        _devices = new GpuDevice[_specs.Length];
        for (var i = 0; i < _specs.Length; i++)
        {
            var spec = _specs[i];
            _waves[i] = new Wave(
                Unit(Hash(_seed, (ulong)i, 1, 0)) * 2 * Math.PI,
                Unit(Hash(_seed, (ulong)i, 2, 0)) * 2 * Math.PI,
                240 + (Unit(Hash(_seed, (ulong)i, 5, 0)) * 240),
                spec.BaseUtilizationPercent,
                spec.BaseUtilizationPercent * 0.8);
            _devices[i] = new GpuDevice(MakeUuid(i), i, spec.Name, spec.TotalMemoryBytes, GpuBackendKind.Simulated)
            {
                ComputeCapability = spec.ComputeCapability,
                MultiprocessorCount = spec.MultiprocessorCount,
                MaxSmClockMHz = spec.MaxSmClockMHz,
                MaxMemoryClockMHz = spec.MaxMemoryClockMHz,
                MemoryBusWidthBits = spec.MemoryBusWidthBits,
                PciBusId = string.Create(CultureInfo.InvariantCulture, $"00000000:{0x18 + (i * 0x10 % 0xE0):X2}:00.0"),
                DriverVersion = "simulated",
                CudaOrdinal = i,
                MigEnabled = false,
            };
        }
    }

    /// <inheritdoc />
    public GpuBackendKind Kind => GpuBackendKind.Simulated;

    /// <summary>Every device of the profile, lost or not, in index order.</summary>
    public IReadOnlyList<GpuDevice> AllDevices => _devices;

    /// <summary>
    /// Adds a workload on top of a device's background load, as a running job would: its utilization adds to the
    /// background's (capped at 100 %) and its memory to the memory in use (capped at the total).
    /// </summary>
    /// <param name="deviceIndex">The device's index.</param>
    /// <param name="utilizationPercent">Extra utilization, 0–100.</param>
    /// <param name="memoryBytes">Extra memory in use, 0 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException">An argument is out of range (it is named).</exception>
    public void SetWorkload(int deviceIndex, double utilizationPercent, long memoryBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(deviceIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(deviceIndex, _devices.Length);
        if (!double.IsFinite(utilizationPercent) || utilizationPercent is < 0 or > 100)
        {
            throw new ArgumentOutOfRangeException(nameof(utilizationPercent), utilizationPercent, "Utilization must be between 0 and 100.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(memoryBytes);
        Volatile.Write(ref _workloads[deviceIndex], new Workload(utilizationPercent, memoryBytes));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<GpuDevice>> DiscoverAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        var elapsed = Elapsed();
        var present = new List<GpuDevice>(_devices.Length);
        foreach (var device in _devices)
        {
            if (ActiveFault(device.Index, SimulatedFaultKind.Lost, elapsed) is null)
            {
                present.Add(device);
            }
        }

        return new ValueTask<IReadOnlyList<GpuDevice>>(present);
    }

    /// <inheritdoc />
    public ValueTask<GpuSample> SampleAsync(GpuDevice device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        var index = device.Index;
        if (index >= _devices.Length || !ReferenceEquals(_devices[index], device) && !_devices[index].Equals(device))
        {
            throw new ArgumentException($"Device {device.Uuid} does not belong to this simulated cluster.", nameof(device));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var elapsed = Elapsed();
        if (!_hasFaults[index])
        {
            return new ValueTask<GpuSample>(Read(index, elapsed));
        }

        if (ActiveFault(index, SimulatedFaultKind.Lost, elapsed) is not null)
        {
            throw new GpuDeviceLostException(device.Uuid, $"Simulated device {index} ({device.Uuid}) is lost.");
        }

        if (ActiveFault(index, SimulatedFaultKind.Throw, elapsed) is not null)
        {
            throw new GpuSamplingException(
                $"Simulated sampling failure on device {index} ({device.Uuid}).", "SIMULATED_ERROR_UNKNOWN", 999);
        }

        if (ActiveFault(index, SimulatedFaultKind.Hang, elapsed) is { } hang)
        {
            return HangAsync(hang, index, cancellationToken);
        }

        return new ValueTask<GpuSample>(Read(index, elapsed));
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<GpuDeviceEvent> WatchEventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposeState) != 0, this);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        foreach (var fault in _faults)
        {
            GpuDeviceEventKind kind;
            switch (fault.Kind)
            {
                case SimulatedFaultKind.Lost:
                    kind = GpuDeviceEventKind.Lost;
                    break;
                case SimulatedFaultKind.EccUncorrectable:
                    kind = GpuDeviceEventKind.DoubleBitEccError;
                    break;
                case SimulatedFaultKind.Xid:
                    kind = GpuDeviceEventKind.CriticalXid;
                    break;
                default:
                    continue;
            }

            var wait = fault.At - Elapsed();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, _time, linked.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    yield break; // disposed
                }
            }

            yield return new GpuDeviceEvent(_devices[fault.DeviceIndex].Uuid, kind, kind == GpuDeviceEventKind.CriticalXid ? fault.Code : 0, _start + fault.At);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeState, 1) == 0)
        {
            _disposed.Cancel();
            _disposed.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The reading of a device at a time since creation; pure.</summary>
    internal GpuSample Read(int index, TimeSpan elapsed)
    {
        var spec = _specs[index];
        var t = elapsed.TotalSeconds;
        var work = Volatile.Read(ref _workloads[index]) ?? Workload.None;

        var wave = _waves[index];
        var background = BackgroundUtilization(index, wave, t);
        var utilization = Math.Min(100, background + work.UtilizationPercent);

        // Temperature follows the load of the last 30 s (a thermal lag), plus the workload.
        var smoothed = (BackgroundUtilization(index, wave, t - 10) + BackgroundUtilization(index, wave, t - 20)
            + BackgroundUtilization(index, wave, t - 30) + background) / 4;
        smoothed = Math.Min(100, smoothed + work.UtilizationPercent);
        var temperature = AmbientC + 4 + (0.5 * smoothed) + Noise(index, 3, t / 5);

        var memoryBase = spec.TotalMemoryBytes * (0.02 + (0.10 * background / 100));
        var memoryUsed = (long)Math.Min(spec.TotalMemoryBytes, memoryBase + work.MemoryBytes);

        var power = spec.IdlePowerW + ((spec.PowerLimitW - spec.IdlePowerW) * Math.Pow(utilization / 100, 0.9)) + (2 * Noise(index, 4, t));
        power = Math.Clamp(power, spec.IdlePowerW * 0.9, spec.PowerLimitW);

        var reasons = utilization < 5 ? GpuClockEventReasons.GpuIdle : GpuClockEventReasons.None;
        var smClock = utilization < 5 ? IdleSmClockMHz : spec.MaxSmClockMHz;
        var faulty = _hasFaults[index];
        if (faulty && ActiveFault(index, SimulatedFaultKind.Hot, elapsed) is not null)
        {
            temperature += 45;
            reasons |= GpuClockEventReasons.HwThermalSlowdown | GpuClockEventReasons.SwThermalSlowdown;
            smClock = Math.Max(IdleSmClockMHz, spec.MaxSmClockMHz * 6 / 10);
        }

        var uncorrected = faulty && ActiveFault(index, SimulatedFaultKind.EccUncorrectable, elapsed) is not null ? 2L : 0L;
        return new GpuSample
        {
            Timestamp = _start + elapsed,
            MemoryUsedBytes = memoryUsed,
            MemoryTotalBytes = spec.TotalMemoryBytes,
            UtilizationPercent = Math.Round(utilization, 1),
            MemoryUtilizationPercent = Math.Round(utilization * 0.6, 1),
            TemperatureC = Math.Round(temperature, 1),
            PowerW = Math.Round(power, 1),
            PowerLimitW = spec.PowerLimitW,
            SmClockMHz = smClock,
            ClockEventReasons = reasons,
            EccCorrectedErrors = 0,
            EccUncorrectedErrors = uncorrected,
        };
    }

    private TimeSpan Elapsed() => _time.GetUtcNow() - _start;

    private SimulatedFault? ActiveFault(int index, SimulatedFaultKind kind, TimeSpan elapsed)
    {
        foreach (var fault in _faults)
        {
            if (fault.DeviceIndex == index && fault.Kind == kind && fault.IsActiveAt(elapsed))
            {
                return fault;
            }
        }

        return null;
    }

    private async ValueTask<GpuSample> HangAsync(SimulatedFault hang, int index, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var wait = hang.Duration is TimeSpan d ? hang.At + d - Elapsed() : Timeout.InfiniteTimeSpan;
        if (wait != Timeout.InfiniteTimeSpan && wait <= TimeSpan.Zero)
        {
            return Read(index, Elapsed());
        }

        try
        {
            await Task.Delay(wait, _time, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(SimulatedGpuBackend));
        }

        return Read(index, Elapsed());
    }

    private double BackgroundUtilization(int index, in Wave wave, double t)
    {
        var value = wave.Base
            + (wave.Swing * Math.Sin((2 * Math.PI * t / wave.Period1) + wave.Phase1))
            + (0.4 * wave.Swing * Math.Sin((2 * Math.PI * t / 53) + wave.Phase2))
            + (3 * Noise(index, 6, t / 2));
        return Math.Clamp(value, 0, 100);
    }

    /// <summary>Smooth value noise in [-1, 1]: interpolates hashed values at whole steps of <paramref name="x"/>.</summary>
    private double Noise(int index, ulong channel, double x)
    {
        var floor = Math.Floor(x);
        var step = (long)floor;
        var a = (Unit(Hash(_seed, (ulong)index, channel, unchecked((ulong)step))) * 2) - 1;
        var b = (Unit(Hash(_seed, (ulong)index, channel, unchecked((ulong)(step + 1)))) * 2) - 1;
        var f = x - floor;
        var s = f * f * (3 - (2 * f));
        return a + ((b - a) * s);
    }

    private string MakeUuid(int index)
    {
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, Hash(_seed, (ulong)index, 7, 1));
        BitConverter.TryWriteBytes(bytes[8..], Hash(_seed, (ulong)index, 7, 2));
        return "GPU-" + new Guid(bytes).ToString("D", CultureInfo.InvariantCulture);
    }

    /// <summary>What a simulated cluster is made of: its devices, faults and seed.</summary>
    private readonly record struct Setup(SimulatedClusterProfile Profile, SimulatedFaultPlan FaultPlan, int Seed)
    {
        /// <summary>The setup bindable options describe.</summary>
        /// <exception cref="ArgumentException">The options are invalid (the message lists every problem).</exception>
        public static Setup From(SimulatedGpuBackendOptions options)
        {
            SimulatedGpuBackendOptionsValidator.ThrowIfInvalid(options, nameof(options));
            return new Setup(options.CreateProfile(), options.CreateFaultPlan(), options.Seed);
        }
    }

    private static double Unit(ulong hash) => (hash >> 11) * (1.0 / (1UL << 53));

    private static ulong Hash(ulong seed, ulong device, ulong channel, ulong step)
    {
        var x = seed;
        x = Mix(x ^ (device * 0x9E3779B97F4A7C15UL));
        x = Mix(x ^ (channel * 0xC2B2AE3D27D4EB4FUL));
        return Mix(x ^ step);
    }

    private static ulong Mix(ulong z)
    {
        unchecked
        {
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>A device's background-load constants: the phases and period of its two waves, its base load and swing.</summary>
    private readonly record struct Wave(double Phase1, double Phase2, double Period1, double Base, double Swing);

    private sealed record Workload(double UtilizationPercent, long MemoryBytes)
    {
        public static Workload None { get; } = new(0, 0);
    }
}
