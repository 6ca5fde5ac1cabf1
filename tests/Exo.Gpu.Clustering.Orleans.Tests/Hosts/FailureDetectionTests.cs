using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Exo.Gpu.Clustering.Orleans.Tests.Hosts;

public class FailureDetectionTests
{
    private static ClusterMembershipOptions Resolve(GpuHostFailureDetection detection)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleans(silo => silo.UseLocalhostClustering().UseGpuHostFailureDetection(detection));
        using var host = builder.Build();
        return host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
    }

    [Fact]
    public void OrleansDefaults_ChangesNothing()
    {
        var options = Resolve(GpuHostFailureDetection.OrleansDefaults);
        var defaults = new ClusterMembershipOptions();

        options.ProbeTimeout.Should().Be(defaults.ProbeTimeout);
        options.NumMissedProbesLimit.Should().Be(defaults.NumMissedProbesLimit);
        options.TableRefreshTimeout.Should().Be(defaults.TableRefreshTimeout);
    }

    [Fact]
    public void Fast_TheMeasuredPreset()
    {
        var options = Resolve(GpuHostFailureDetection.Fast);

        options.ProbeTimeout.Should().Be(TimeSpan.FromSeconds(1));
        options.NumMissedProbesLimit.Should().Be(2);
        options.TableRefreshTimeout.Should().Be(TimeSpan.FromSeconds(5));
        options.IAmAliveTablePublishTimeout.Should().Be(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Balanced_TwoSecondsThreeProbes()
    {
        var options = Resolve(GpuHostFailureDetection.Balanced);

        options.ProbeTimeout.Should().Be(TimeSpan.FromSeconds(2));
        options.NumMissedProbesLimit.Should().Be(3);
    }

    [Fact]
    public void Undefined_Throws() =>
        FluentActions.Invoking(() => Resolve((GpuHostFailureDetection)9)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("detection");
}
