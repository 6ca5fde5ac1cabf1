using System.Xml.Linq;

namespace Exo.Gpu.Clustering.Tests.Architecture;

/// <summary>
/// The core's XML documentation file (what the package ships, and what IntelliSense shows) documents the public surface
/// only: Directory.Build.targets strips every member the PublicAPI files do not declare.
/// </summary>
public class XmlDocsTests
{
    private static readonly string[] Ids = XDocument.Load(Path.Combine(AppContext.BaseDirectory, "Exo.Gpu.Clustering.xml"))
        .Descendants("member").Select(m => (string)m.Attribute("name")!).ToArray();

    [Fact]
    public void CoreXmlDocs_Types_AreExactlyTheDeclaredPublicOnesThatHaveDocs()
    {
        var declared = DeclaredTypes();
        var documented = Ids.Where(id => id.StartsWith("T:", StringComparison.Ordinal)).Select(id => id[2..]).ToList();

        documented.Should().Contain("Exo.Gpu.Clustering.GpuClusteringManager").And.Contain("Exo.Gpu.Clustering.Scheduling.GpuLease");
        documented.Should().OnlyContain(t => declared.Contains(t), "an internal type's docs must not ship");
    }

    [Fact]
    public void CoreXmlDocs_Members_NoInternalsOrPrivateFields()
    {
        Ids.Length.Should().BeGreaterThan(300, "the public surface is documented");
        Ids.Should().Contain("P:Exo.Gpu.Clustering.GpuClusteringManager.Devices");
        Ids.Should().NotContain(id => id.Contains("LeaseLedger", StringComparison.Ordinal) || id.Contains("TelemetryPoller", StringComparison.Ordinal));
        Ids.Should().NotContain(id => id.Contains("._", StringComparison.Ordinal), "private fields are not documented for consumers");
    }

    private static HashSet<string> DeclaredTypes()
    {
        var directory = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(directory, "Exo.Gpu.Clustering.sln")))
        {
            directory = Path.GetDirectoryName(directory) ?? throw new InvalidOperationException("The repository root was not found.");
        }

        var project = Path.Combine(directory, "src", "Exo.Gpu.Clustering");
        return File.ReadLines(Path.Combine(project, "PublicAPI.Shipped.txt"))
            .Concat(File.ReadLines(Path.Combine(project, "PublicAPI.Unshipped.txt")))
            .Select(l => l.Trim())
            .Where(l => l.Length != 0 && l[0] != '#' && !l.Contains('(', StringComparison.Ordinal) && !l.Contains(" -> ", StringComparison.Ordinal) && !l.Contains(" = ", StringComparison.Ordinal))
            .ToHashSet(StringComparer.Ordinal);
    }
}
