using System.Runtime.InteropServices;
using System.Runtime.Loader;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Nvml.Interop;
using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Time.Testing;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

/// <summary>The process lists (<c>nvmlDevice{Compute,Graphics}RunningProcesses_v3</c>) through the fake library.</summary>
[Collection(FakeGpuTests.Name)]
public class NvmlProcessTests
{
    private const int Compute = 1;
    private const int Graphics = 2;
    private const ulong NotAvailable = ulong.MaxValue;

    private static readonly FakeGpuLibrary Fake = FakeGpuLibrary.Main;

    /// <summary>Adds a process to the fake (the helper's own library handle: the same one, loaded once more).</summary>
    internal static unsafe void AddProcess(FakeGpuLibrary library, int device, int kind, int pid, ulong memory)
    {
        var handle = NativeLibrary.Load(library.Path);
        try
        {
            var add = (delegate* unmanaged<int, int, uint, ulong, int>)NativeLibrary.GetExport(handle, "fake_add_process");
            add(device, kind, (uint)pid, memory).Should().Be(0, "the fake takes the process");
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    [Fact]
    public async Task GetProcessesAsync_ComputeAndGraphics_MergedByPidWithMemoryNameAndUser()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 2);
        var self = Environment.ProcessId;
        AddProcess(Fake, 1, Compute, self, 3L << 30);
        AddProcess(Fake, 1, Graphics, self, 1L << 30);
        AddProcess(Fake, 1, Graphics, 999_999_999, NotAvailable);
        AddProcess(Fake, 0, Compute, 4242, 1L << 20);
        var devices = await backend.DiscoverAsync(CancellationToken.None);

        var processes = await backend.GetProcessesAsync(devices[1], CancellationToken.None);

        processes.Should().NotBeNull().And.HaveCount(2);
        var mine = processes![0];
        mine.ProcessId.Should().Be(self);
        mine.Kind.Should().Be(GpuProcessKind.Compute | GpuProcessKind.Graphics);
        mine.UsedMemoryBytes.Should().Be(3L << 30, "the larger of the two lists' figures");
        mine.Name.Should().Be(File.ReadAllText($"/proc/{self}/comm").Trim());
        mine.User.Should().Be(Environment.UserName);
        var gone = processes[1];
        gone.ProcessId.Should().Be(999_999_999);
        gone.UsedMemoryBytes.Should().BeNull("ULLONG_MAX is NVML's 'not available'");
        gone.Name.Should().BeNull("no such process in /proc");
        gone.User.Should().BeNull();
    }

    [Fact]
    public async Task GetProcessesAsync_ManyProcesses_SizedByTheInsufficientSizeAnswer()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 1);
        for (var i = 0; i < 30; i++)
        {
            AddProcess(Fake, 0, Compute, 10_000 + i, (ulong)(i + 1) << 20);
        }

        var devices = await backend.DiscoverAsync(CancellationToken.None);

        var processes = await backend.GetProcessesAsync(devices[0], CancellationToken.None);

        processes!.Select(p => p.ProcessId).Should().Equal(Enumerable.Range(10_000, 30));
        processes!.Select(p => p.UsedMemoryBytes).Should().Equal(Enumerable.Range(1, 30).Select(i => (long?)((long)i << 20)));
    }

    [Fact]
    public async Task GetProcessesAsync_NoProcess_EmptyNotNull()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 1);
        var devices = await backend.DiscoverAsync(CancellationToken.None);

        var processes = await backend.GetProcessesAsync(devices[0], CancellationToken.None);

        processes.Should().NotBeNull().And.BeEmpty();
    }

    [Fact]
    public async Task GetProcessesAsync_BothListsNotSupported_NotAvailable()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 1);
        AddProcess(Fake, 0, Compute, 77, 1L << 20);
        Fake.Inject("nvmlDeviceGetComputeRunningProcesses_v3", 0, FakeGpuLibrary.NotSupported);
        Fake.Inject("nvmlDeviceGetGraphicsRunningProcesses_v3", 0, FakeGpuLibrary.NoPermission);
        var devices = await backend.DiscoverAsync(CancellationToken.None);

        (await backend.GetProcessesAsync(devices[0], CancellationToken.None)).Should().BeNull();
    }

    [Fact]
    public async Task GetProcessesAsync_GpuIsLost_DeviceLost_OtherError_SamplingException()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 2);
        Fake.Inject("nvmlDeviceGetComputeRunningProcesses_v3", 0, FakeGpuLibrary.GpuIsLost);
        Fake.Inject("nvmlDeviceGetGraphicsRunningProcesses_v3", 1, FakeGpuLibrary.Unknown);
        var devices = await backend.DiscoverAsync(CancellationToken.None);

        var lost = () => backend.GetProcessesAsync(devices[0], CancellationToken.None).AsTask();
        var failed = () => backend.GetProcessesAsync(devices[1], CancellationToken.None).AsTask();

        (await lost.Should().ThrowAsync<GpuDeviceLostException>()).Which.Message.Should().Contain("nvmlDeviceGetComputeRunningProcesses_v3");
        (await failed.Should().ThrowAsync<GpuSamplingException>()).Which.ErrorName.Should().Be("NVML_ERROR_UNKNOWN");
    }

    [Fact]
    public async Task SampleAsync_NeverListsProcesses()
    {
        var time = new FakeTimeProvider(NvmlTestContext.Start);
        await using var backend = NvmlTestContext.Open(time, devices: 2);
        var devices = await backend.DiscoverAsync(CancellationToken.None);

        await backend.SampleAsync(devices[0], CancellationToken.None);
        await backend.SampleAsync(devices[1], CancellationToken.None);

        Fake.Calls("nvmlDeviceGetComputeRunningProcesses_v3").Should().Be(0);
        Fake.Calls("nvmlDeviceGetGraphicsRunningProcesses_v3").Should().Be(0);
        await backend.GetProcessesAsync(devices[0], CancellationToken.None);
        Fake.Calls("nvmlDeviceGetComputeRunningProcesses_v3").Should().Be(1, "asked once, none running");
    }

    [Fact]
    public async Task GetProcessesAsync_OldDriverWithoutTheV3Calls_NotAvailable()
    {
        var old = FakeGpuLibrary.OldDriver;
        old.Reset(1);
        AddProcess(old, 0, Compute, 77, 1L << 20);

        // The stubs bind once per process: a fresh copy of the library assembly is a binding scope of its own.
        var context = new AssemblyLoadContext($"nvml-processes-{Guid.NewGuid():N}", isCollectible: false);
        var assembly = context.LoadFromAssemblyPath(typeof(NvmlGpuBackend).Assembly.Location);
        var optionsType = assembly.GetType(typeof(NvmlGpuBackendOptions).FullName!, throwOnError: true)!;
        var options = Activator.CreateInstance(optionsType)!;
        void Set(string name, object? value) => optionsType.GetProperty(name, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.SetValue(options, value);
        Set(nameof(NvmlGpuBackendOptions.NvmlLibraryPath), old.Path);
        Set(nameof(NvmlGpuBackendOptions.CudaLibraryPath), old.Path);
        Set(nameof(NvmlGpuBackendOptions.CudaVisibleDevices), null);
        Set(nameof(NvmlGpuBackendOptions.ProcessEnvironment), (Func<string, string?>)(_ => null));
        dynamic backend = Activator.CreateInstance(assembly.GetType(typeof(NvmlGpuBackend).FullName!, throwOnError: true)!, options, new FakeTimeProvider(NvmlTestContext.Start), null)!;
        try
        {
            var devices = ((System.Collections.IEnumerable)await backend.DiscoverAsync(CancellationToken.None)).Cast<object>().ToList();
            object? processes = await backend.GetProcessesAsync((dynamic)devices[0], CancellationToken.None);

            processes.Should().BeNull();
            old.Calls("nvmlDeviceGetComputeRunningProcesses_v3").Should().Be(0);
        }
        finally
        {
            await backend.DisposeAsync();
        }
    }

    [Fact]
    public void ProcessInfo_Layout_MatchesTheHeader()
    {
        Fake.SizeOf("nvmlProcessInfo_t").Should().Be(NvmlProcessInfoLayout.V2Size).And.Be(Marshal.SizeOf<NvmlProcessInfo>());
        Fake.OffsetOf("nvmlProcessInfo_t.pid").Should().Be(Marshal.OffsetOf<NvmlProcessInfo>(nameof(NvmlProcessInfo.Pid)));
        Fake.OffsetOf("nvmlProcessInfo_t.usedGpuMemory").Should().Be(8).And.Be(Marshal.OffsetOf<NvmlProcessInfo>(nameof(NvmlProcessInfo.UsedGpuMemory)));
        Fake.OffsetOf("nvmlProcessInfo_t.gpuInstanceId").Should().Be(Marshal.OffsetOf<NvmlProcessInfo>(nameof(NvmlProcessInfo.GpuInstanceId)));
        Fake.OffsetOf("nvmlProcessInfo_t.computeInstanceId").Should().Be(20).And.Be(Marshal.OffsetOf<NvmlProcessInfo>(nameof(NvmlProcessInfo.ComputeInstanceId)));
    }

    [Theory]
    [InlineData(false, false, 24)]
    [InlineData(false, true, 24)]
    [InlineData(true, true, 24)]
    [InlineData(true, false, 32)]
    public void Stride_ByDriverExports_AsNvitopProbes(bool confCompute, bool detailList, int stride) =>
        NvmlProcessInfoLayout.Stride(confCompute, detailList).Should().Be(stride);
}
