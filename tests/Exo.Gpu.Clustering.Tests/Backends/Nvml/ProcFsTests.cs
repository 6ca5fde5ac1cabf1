using Exo.Gpu.Clustering.Backends.Nvml;

namespace Exo.Gpu.Clustering.Tests.Backends.Nvml;

/// <summary>Process names and users from a /proc and an /etc/passwd laid out in a folder of the test's own.</summary>
public sealed class ProcFsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("exo-procfs-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void NameAndUser_KnownUid_FromCommAndPasswd()
    {
        var fs = Layout();
        Process(17, "python3\n", "Name:\tpython3\nUid:\t1001\t1001\t1001\t1001\nGid:\t100\n");

        fs.Name(17).Should().Be("python3");
        fs.User(17).Should().Be("alice");
    }

    [Fact]
    public void User_UidWithoutPasswdEntry_TheUid()
    {
        var fs = Layout();
        Process(18, "train\n", "Uid:\t4242\t0\t0\t0\n");

        fs.User(18).Should().Be("4242", "the real uid, not the effective one");
    }

    [Fact]
    public void NameAndUser_ProcessGoneOrUnreadable_Null()
    {
        var fs = Layout();
        Process(19, "\n", "Name:\tx\n");

        fs.Name(20).Should().BeNull();
        fs.User(20).Should().BeNull();
        fs.Name(19).Should().BeNull("an empty comm is no name");
        fs.User(19).Should().BeNull("no Uid line");
    }

    private ProcFs Layout()
    {
        File.WriteAllText(Path.Combine(_root, "passwd"), "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:100::/home/alice:/bin/sh\n");
        Directory.CreateDirectory(Path.Combine(_root, "proc"));
        return new ProcFs(Path.Combine(_root, "proc"), Path.Combine(_root, "passwd"));
    }

    private void Process(int pid, string comm, string status)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "proc", pid.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
        File.WriteAllText(Path.Combine(dir, "comm"), comm);
        File.WriteAllText(Path.Combine(dir, "status"), status);
    }
}
