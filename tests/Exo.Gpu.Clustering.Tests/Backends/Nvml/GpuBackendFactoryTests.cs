using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

[Collection(FakeGpuTests.Name)]
public class GpuBackendFactoryTests
{
    private const string MissingPath = "/nonexistent/exo-gpu-test/libnvidia-ml.so.1";
    private static readonly FakeGpuLibrary Fake = FakeGpuLibrary.Main;

    [Fact]
    public async Task CreateAsync_AutoWithoutNvml_FallsBackToSimulatedAndSaysWhy()
    {
        var nvml = NvmlTestContext.Options();
        nvml.NvmlLibraryPath = MissingPath;

        var selection = await GpuBackendFactory.CreateAsync(GpuBackendChoice.Auto, nvml, new SimulatedGpuBackendOptions { Seed = 3 });
        await using var backend = selection.Backend;

        selection.Kind.Should().Be(GpuBackendKind.Simulated);
        backend.Should().BeOfType<SimulatedGpuBackend>();
        selection.FallbackReason.Should().Contain(MissingPath);
        (await backend.DiscoverAsync(CancellationToken.None)).Should().HaveCount(8);
    }

    [Fact]
    public async Task CreateAsync_AutoWithNvmlDevices_UsesNvml()
    {
        Fake.Reset(2);

        var selection = await GpuBackendFactory.CreateAsync(GpuBackendChoice.Auto, NvmlTestContext.Options());
        await using var backend = selection.Backend;

        selection.Kind.Should().Be(GpuBackendKind.Nvml);
        selection.FallbackReason.Should().BeNull();
        (await backend.DiscoverAsync(CancellationToken.None)).Should().HaveCount(2);
    }

    [Fact]
    public async Task CreateAsync_AutoNvmlWithoutVisibleDevice_FallsBackAndShutsNvmlDown()
    {
        Fake.Reset(0);
        var before = Fake.InitCount;

        var selection = await GpuBackendFactory.CreateAsync(GpuBackendChoice.Auto, NvmlTestContext.Options());
        await using var backend = selection.Backend;

        selection.Kind.Should().Be(GpuBackendKind.Simulated);
        selection.FallbackReason.Should().Contain("no device");
        Fake.InitCount.Should().Be(before, "the NVML probe was disposed");
    }

    [Fact]
    public async Task CreateAsync_NvmlMissing_ThrowsNamingWhatWasSearched()
    {
        var nvml = NvmlTestContext.Options();
        nvml.NvmlLibraryPath = MissingPath;

        var act = async () => await GpuBackendFactory.CreateAsync(GpuBackendChoice.Nvml, nvml);

        (await act.Should().ThrowAsync<GpuBackendUnavailableException>()).WithMessage($"*{MissingPath}*");
    }

    [Fact]
    public async Task CreateAsync_Nvml_StrictEvenWithoutDevices()
    {
        Fake.Reset(0);

        var selection = await GpuBackendFactory.CreateAsync(GpuBackendChoice.Nvml, NvmlTestContext.Options());
        await using var backend = selection.Backend;

        selection.Kind.Should().Be(GpuBackendKind.Nvml);
        (await backend.DiscoverAsync(CancellationToken.None)).Should().BeEmpty();
    }

    [Fact]
    public async Task CreateAsync_Simulated_NeverTouchesNvml()
    {
        Fake.Reset(2);

        var selection = await GpuBackendFactory.CreateAsync(GpuBackendChoice.Simulated);
        await using var backend = selection.Backend;

        selection.Kind.Should().Be(GpuBackendKind.Simulated);
        selection.FallbackReason.Should().BeNull();
        Fake.Calls("nvmlInit_v2").Should().Be(0);
    }

    [Fact]
    public async Task CreateAsync_UndefinedChoice_ThrowsNamingIt()
    {
        var act = async () => await GpuBackendFactory.CreateAsync((GpuBackendChoice)42);

        await act.Should().ThrowAsync<ArgumentOutOfRangeException>().WithParameterName("choice");
    }

    [Fact]
    public async Task CreateAsync_CancelledToken_Throws()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        var act = async () => await GpuBackendFactory.CreateAsync(GpuBackendChoice.Auto, cancellationToken: cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
    }
}
