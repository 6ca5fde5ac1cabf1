using System.Reflection;
using System.Runtime.Loader;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

/// <summary>
/// The backend on an older driver that lacks <c>nvmlDeviceGetMemoryInfo_v2</c>, <c>…ClocksEventReasons</c> and
/// <c>…TemperatureV</c> (the fake built with -DFAKE_OLD_DRIVER). The P/Invoke stubs bind once per process and this test
/// process has bound the main fake, so each test loads a fresh copy of the library assembly into its own
/// <see cref="AssemblyLoadContext"/>: a separate binding scope, as a separate process would be. Its types differ from
/// ours, so the backend is driven through reflection.
/// </summary>
[Collection(FakeGpuTests.Name)]
public class NvmlOldDriverTests
{
    private static readonly FakeGpuLibrary Old = FakeGpuLibrary.OldDriver;

    [Fact]
    public async Task SampleAsync_OldDriver_FallsBackToV1MemoryThrottleReasonsAndClassicTemperature()
    {
        Old.Reset(2);
        Old.Set(1, "memory.used", 2L << 30);
        Old.Set(1, "memory.reserved", 300L << 20);
        Old.Set(1, "temperature", 58);
        Old.Set(1, "clock.reasons", 0x1);
        await using var backend = new IsolatedBackend(Old.Path);

        var devices = await backend.DiscoverAsync();
        var sample = await backend.SampleAsync(devices[1]);

        devices.Should().HaveCount(2);
        ((long)devices[1].TotalMemoryBytes).Should().Be(85520809984);
        ((long?)sample.MemoryUsedBytes).Should().Be((2L << 30) + (300L << 20), "v1 counts reserved memory as used");
        ((double?)sample.TemperatureC).Should().Be(58);
        ((ulong)(object)sample.ClockEventReasons).Should().Be((ulong)GpuClockEventReasons.GpuIdle);
        Old.Calls("nvmlDeviceGetMemoryInfo").Should().BeGreaterThanOrEqualTo(3, "discovery and the reading used v1");
        Old.Calls("nvmlDeviceGetCurrentClocksThrottleReasons").Should().Be(1);
        Old.Calls("nvmlDeviceGetTemperature").Should().Be(1);
    }

    [Fact]
    public async Task Constructor_SecondLibraryInTheSameBindingScope_Refused()
    {
        Old.Reset(1);
        await using var backend = new IsolatedBackend(Old.Path);

        var act = () => backend.CreateAnother(FakeGpuLibrary.Main.Path);

        act.Should().Throw<TargetInvocationException>().WithInnerException<Exception>()
            .Which.GetType().Name.Should().Be("GpuBackendUnavailableException");
    }

    /// <summary>An <see cref="NvmlGpuBackend"/> from a fresh copy of the library assembly.</summary>
    private sealed class IsolatedBackend : IAsyncDisposable
    {
        private readonly Assembly _assembly;
        private readonly dynamic _backend;

        public IsolatedBackend(string path)
        {
            var context = new AssemblyLoadContext($"nvml-{Guid.NewGuid():N}");
            _assembly = context.LoadFromAssemblyPath(typeof(NvmlGpuBackend).Assembly.Location);
            _backend = Create(path);
        }

        public async Task<IReadOnlyList<dynamic>> DiscoverAsync()
        {
            var devices = (System.Collections.IEnumerable)await _backend.DiscoverAsync(CancellationToken.None);
            return devices.Cast<dynamic>().ToList();
        }

        public async Task<dynamic> SampleAsync(dynamic device) => await _backend.SampleAsync(device, CancellationToken.None);

        public object CreateAnother(string path) => Create(path);

        public async ValueTask DisposeAsync() => await _backend.DisposeAsync();

        private object Create(string path)
        {
            var optionsType = _assembly.GetType(typeof(NvmlGpuBackendOptions).FullName!, throwOnError: true)!;
            var options = Activator.CreateInstance(optionsType)!;
            Set(options, nameof(NvmlGpuBackendOptions.NvmlLibraryPath), path);
            Set(options, nameof(NvmlGpuBackendOptions.CudaLibraryPath), path);
            Set(options, nameof(NvmlGpuBackendOptions.CudaVisibleDevices), null);
            Set(options, nameof(NvmlGpuBackendOptions.ProcessEnvironment), (Func<string, string?>)(_ => null));
            var backendType = _assembly.GetType(typeof(NvmlGpuBackend).FullName!, throwOnError: true)!;
            return Activator.CreateInstance(backendType, options, new FakeTimeProvider(NvmlTestContext.Start), null)!;
        }

        private static void Set(object target, string property, object? value) =>
            target.GetType().GetProperty(property, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)!.SetValue(target, value);
    }
}
