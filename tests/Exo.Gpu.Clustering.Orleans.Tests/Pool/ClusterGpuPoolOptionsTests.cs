namespace Exo.Gpu.Clustering.Orleans.Tests.Pool;

public class ClusterGpuPoolOptionsTests
{
    [Fact]
    public void Validate_Defaults_NoErrors() => new ClusterGpuPoolOptions().Validate().Should().BeEmpty();

    [Fact]
    public void Validate_HolderDeadlineNotBelowLeaseTtl_NamesBoth()
    {
        var errors = new ClusterGpuPoolOptions { LeaseTtl = TimeSpan.FromSeconds(5), HolderDeadline = TimeSpan.FromSeconds(5) }.Validate();

        errors.Should().ContainSingle().Which.Should().Be("HolderDeadline must be more than RenewInterval (00:00:01) and less than LeaseTtl (00:00:05), got 00:00:05");
    }

    [Fact]
    public void Validate_EveryBadValue_OneErrorEach()
    {
        var errors = new ClusterGpuPoolOptions
        {
            LeaseTtl = TimeSpan.Zero,
            RenewInterval = TimeSpan.Zero,
            PrepareTtl = TimeSpan.Zero,
            CallTimeout = TimeSpan.Zero,
            MaxAttempts = 0,
            RetryDelay = TimeSpan.FromSeconds(-1),
            ViewMaxAge = TimeSpan.FromSeconds(11),
        }.Validate();

        errors.Select(e => e.Split(' ')[0]).Should().Equal("LeaseTtl", "HolderDeadline", "RenewInterval", "PrepareTtl", "CallTimeout", "MaxAttempts", "RetryDelay", "ViewMaxAge");
    }

    [Fact]
    public void GpuHostOptions_BadValues_OneErrorEach()
    {
        var errors = new GpuHostOptions { HostId = "a b", ReportInterval = TimeSpan.Zero, MaxLeaseTtl = TimeSpan.Zero, ReapInterval = TimeSpan.Zero, MembershipProbeInterval = TimeSpan.FromMinutes(2), EndedRetention = 0 }.Validate();

        errors.Select(e => e.Split(' ')[0]).Should().Equal("HostId", "ReportInterval", "MaxLeaseTtl", "ReapInterval", "MembershipProbeInterval", "EndedRetention");
    }
}
