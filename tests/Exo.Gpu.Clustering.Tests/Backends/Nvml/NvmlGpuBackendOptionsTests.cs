using Exo.Gpu.Clustering.Backends.Nvml;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

public class NvmlGpuBackendOptionsTests
{
    private static List<string> Errors(NvmlGpuBackendOptions options, string path = "")
    {
        var errors = new List<string>();
        NvmlGpuBackendOptionsValidator.Validate(options, path, errors);
        return errors;
    }

    [Fact]
    public void Defaults_EqualTheNamedConstants()
    {
        var o = new NvmlGpuBackendOptions();
        o.EventWaitTimeout.Should().Be(NvmlGpuBackendOptions.DefaultEventWaitTimeout).And.Be(TimeSpan.FromSeconds(1));
        NvmlGpuBackendOptions.MinEventWaitTimeout.Should().Be(TimeSpan.FromMilliseconds(1));
        NvmlGpuBackendOptions.MaxEventWaitTimeout.Should().Be(TimeSpan.FromMinutes(1));
        o.NvmlLibraryPath.Should().BeNull();
        o.CudaLibraryPath.Should().BeNull();
        Errors(o).Should().BeEmpty();
    }

    [Fact]
    public void Validate_TwoBadValues_TwoMessagesWithTheirPaths()
    {
        var o = new NvmlGpuBackendOptions { CudaDeviceOrder = (CudaDeviceOrder)5, EventWaitTimeout = TimeSpan.FromMinutes(2) };

        Errors(o, "NvmlOptions.").Should().Equal(
            "NvmlOptions.CudaDeviceOrder must be a defined CudaDeviceOrder; it is 5.",
            "NvmlOptions.EventWaitTimeout must be from 1 ms to 1 minute; it is 00:02:00.");
    }

    [Fact]
    public void Validate_BoundsAreInclusive()
    {
        Errors(new NvmlGpuBackendOptions { EventWaitTimeout = NvmlGpuBackendOptions.MinEventWaitTimeout }).Should().BeEmpty();
        Errors(new NvmlGpuBackendOptions { EventWaitTimeout = NvmlGpuBackendOptions.MaxEventWaitTimeout }).Should().BeEmpty();
        Errors(new NvmlGpuBackendOptions { EventWaitTimeout = NvmlGpuBackendOptions.MinEventWaitTimeout - TimeSpan.FromTicks(1) }).Should().ContainSingle();
        Errors(new NvmlGpuBackendOptions { EventWaitTimeout = NvmlGpuBackendOptions.MaxEventWaitTimeout + TimeSpan.FromTicks(1) }).Should().ContainSingle();
    }

    [Fact]
    public void Constructor_InvalidOptions_OneExceptionListingEveryError_BeforeLoadingAnything()
    {
        var options = new NvmlGpuBackendOptions
        {
            NvmlLibraryPath = "/nonexistent/libnvidia-ml.so.1",
            CudaDeviceOrder = (CudaDeviceOrder)7,
            EventWaitTimeout = TimeSpan.Zero,
            ProcessEnvironment = _ => null,
        };

        var act = () => new NvmlGpuBackend(options);

        act.Should().ThrowExactly<ArgumentException>().Which.Should().Match<ArgumentException>(e =>
            e.ParamName == "options"
            && e.Message == "Invalid NVML backend options: CudaDeviceOrder must be a defined CudaDeviceOrder; it is 7. EventWaitTimeout must be from 1 ms to 1 minute; it is 00:00:00. (Parameter 'options')");
    }
}
