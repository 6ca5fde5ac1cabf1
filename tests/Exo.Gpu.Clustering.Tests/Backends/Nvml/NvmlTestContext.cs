using Exo.Gpu.Clustering.Backends.Nvml;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

/// <summary>Every test that drives the fake native library: they share its global state, so they never run in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FakeGpuTests
{
    public const string Name = "Fake NVML library";
}

/// <summary>Options for a backend on the fake library, with a fake clock and no process CUDA settings.</summary>
internal static class NvmlTestContext
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A guard for waits on the dedicated event thread, so a broken test fails instead of hanging.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    public static NvmlGpuBackendOptions Options(string? visibleDevices = null, CudaDeviceOrder order = CudaDeviceOrder.FastestFirst) => new()
    {
        NvmlLibraryPath = FakeGpuLibrary.Main.Path,
        CudaLibraryPath = FakeGpuLibrary.Main.Path,
        CudaVisibleDevices = visibleDevices,
        CudaDeviceOrder = order,
        EventWaitTimeout = TimeSpan.FromMilliseconds(20),
        ProcessEnvironment = _ => null,
    };

    /// <summary>Yields until <paramref name="condition"/> holds (progress on another thread), failing after <see cref="Guard"/>.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string because)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            watch.Elapsed.Should().BeLessThan(Guard, because);
            await Task.Yield();
        }
    }

    /// <summary>Resets the fake to <paramref name="devices"/> default devices and opens a backend on it.</summary>
    public static NvmlGpuBackend Open(FakeTimeProvider time, int devices = 4, string? visibleDevices = null)
    {
        FakeGpuLibrary.Main.Reset(devices);
        return Create(Options(visibleDevices), time);
    }

    /// <summary>An NVML backend over the fake, on <paramref name="time"/> (a fake clock at <see cref="Start"/> when <see langword="null"/>), logging to <paramref name="logs"/>.</summary>
    public static NvmlGpuBackend Create(NvmlGpuBackendOptions options, TimeProvider? time = null, ILoggerFactory? logs = null) =>
        new(options, time ?? new FakeTimeProvider(Start), logs);
}
