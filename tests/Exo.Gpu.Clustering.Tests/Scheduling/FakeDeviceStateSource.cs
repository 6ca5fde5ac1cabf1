using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Scheduling;

/// <summary>A settable <see cref="IDeviceStateSource"/>: devices, states and health changes are whatever a test says.</summary>
internal sealed class FakeDeviceStateSource : IDeviceStateSource
{
    public const long GiB = 1L << 30;

    private readonly Lock _gate = new();
    private GpuDevice[] _devices = [];
    private DeviceState[] _states = [];
    private int _version;
    private int _nowReads;
    private int _clockedStateReads;

    public int Version => Volatile.Read(ref _version);

    public IReadOnlyList<GpuDevice> Devices => Volatile.Read(ref _devices);

    public event Action<GpuHealthChange>? HealthChanged;

    /// <summary>How many handlers are subscribed.</summary>
    public int Subscribers => HealthChanged?.GetInvocationList().Length ?? 0;

    /// <summary>How many times <see cref="Now"/> has been read.</summary>
    public int NowReads => Volatile.Read(ref _nowReads);

    /// <summary>How many states have been read without a <c>now</c> (each would read the clock).</summary>
    public int ClockedStateReads => Volatile.Read(ref _clockedStateReads);

    /// <summary>The fake's time base: a counter of reads (the selector treats it as opaque).</summary>
    public long Now => Interlocked.Increment(ref _nowReads);

    public DeviceState GetState(int slot)
    {
        Interlocked.Increment(ref _clockedStateReads);
        return Volatile.Read(ref _states)[slot];
    }

    /// <summary>Called with the slot on every state read at an instant (a scan's read), before the state is returned: lets a test stop a scan mid-way.</summary>
    public Action<int>? OnRead { get; set; }

    public DeviceState GetState(int slot, long now)
    {
        OnRead?.Invoke(slot);
        return Volatile.Read(ref _states)[slot];
    }

    /// <summary>A device with the given facts.</summary>
    public static GpuDevice Device(int index, long totalBytes = 80 * GiB, string name = "NVIDIA H100 80GB HBM3", ComputeCapability? cc = null) =>
        new(Uuid(index), index, name, totalBytes, GpuBackendKind.Simulated) { ComputeCapability = cc ?? new ComputeCapability(9, 0) };

    public static string Uuid(int index) => $"GPU-{index:x8}-0000-4000-8000-{index:x12}";

    /// <summary>A fresh, healthy reading.</summary>
    public static GpuSample Sample(long totalBytes = 80 * GiB, long usedBytes = 0, double? util = 10, double? tempC = 40, double? powerW = 200, double? powerLimitW = 700) => new()
    {
        Timestamp = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
        MemoryTotalBytes = totalBytes,
        MemoryUsedBytes = usedBytes,
        UtilizationPercent = util,
        TemperatureC = tempC,
        PowerW = powerW,
        PowerLimitW = powerLimitW,
    };

    public static DeviceState Healthy(GpuSample sample, TimeSpan? age = null) =>
        new(GpuHealth.Healthy, true, sample, age ?? TimeSpan.FromMilliseconds(500));

    /// <summary>A source with <paramref name="count"/> equal, healthy, idle 80 GiB devices.</summary>
    public static FakeDeviceStateSource Uniform(int count, long totalBytes = 80 * GiB)
    {
        var source = new FakeDeviceStateSource();
        for (var i = 0; i < count; i++)
        {
            source.Add(Device(i, totalBytes), Healthy(Sample(totalBytes)));
        }

        return source;
    }

    public void Add(GpuDevice device, DeviceState state)
    {
        lock (_gate)
        {
            _devices = [.. _devices, device];
            _states = [.. _states, state];
            _version++;
        }
    }

    /// <summary>Replaces the device at a slot (a new device set version), as a device that rejoins with other facts.</summary>
    public void Replace(int slot, GpuDevice device)
    {
        lock (_gate)
        {
            var devices = (GpuDevice[])_devices.Clone();
            devices[slot] = device;
            _devices = devices;
            _version++;
        }
    }

    public void Set(int slot, DeviceState state)
    {
        lock (_gate)
        {
            var states = (DeviceState[])_states.Clone();
            states[slot] = state;
            _states = states;
        }
    }

    public void SetSample(int slot, GpuSample sample) => Set(slot, GetState(slot) with { Sample = sample, HasFreshSample = true });

    /// <summary>Sets a device's health and raises <see cref="HealthChanged"/>, as the collector would.</summary>
    public void ChangeHealth(int slot, GpuHealth health, string reason = "test")
    {
        var previous = GetState(slot).Health;
        Set(slot, GetState(slot) with { Health = health });
        HealthChanged?.Invoke(new GpuHealthChange(_devices[slot], previous, health, reason, DateTimeOffset.UnixEpoch));
    }
}

/// <summary>Builds selectors over fake sources for tests.</summary>
internal static class Selectors
{
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    public static DeviceSelector Create(FakeDeviceStateSource source, DeviceSelectorOptions? options = null, TimeProvider? time = null) =>
        new(source, options ?? new DeviceSelectorOptions { Seed = 1 }, time ?? new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));

    /// <summary>Completes when <paramref name="token"/> fires (revocation runs on the thread pool).</summary>
    public static Task WhenCancelled(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => fired.TrySetResult());
        return fired.Task.WaitAsync(Guard, CancellationToken.None);
    }

    public static long[] Reserved(DeviceSelector selector) => [.. selector.GetSnapshot().Devices.Select(d => d.ReservedBytes)];

    public static int[] Leases(DeviceSelector selector) => [.. selector.GetSnapshot().Devices.Select(d => d.ActiveLeases)];
}
