using System.Xml.Linq;

namespace Exo.Gpu.Clustering.Orleans.Tests.Architecture;

/// <summary>The core never references Orleans: add-ons depend on the core, never the other way.</summary>
public class DependencyTests
{
    [Fact]
    public void CoreAssembly_References_NoOrleansAssembly()
    {
        var references = typeof(GpuClusteringManager).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        references.Should().Contain("Microsoft.Extensions.Logging.Abstractions"); // the check reads real references
        references.Should().NotContain(n => n.StartsWith("Orleans", StringComparison.Ordinal) || n.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));
    }

    [Fact]
    public void CoreProject_PackageReferences_NoMicrosoftOrleans()
    {
        var project = XDocument.Load(Path.Combine(Root(), "src", "Exo.Gpu.Clustering", "Exo.Gpu.Clustering.csproj"));
        var packages = project.Descendants("PackageReference").Select(e => (string?)e.Attribute("Include") ?? string.Empty).ToList();

        packages.Should().Contain("Microsoft.Extensions.Logging.Abstractions");
        packages.Should().NotContain(p => p.StartsWith("Microsoft.Orleans", StringComparison.OrdinalIgnoreCase));
        project.Descendants("ProjectReference").Should().BeEmpty();
    }

    [Fact]
    public void OrleansAddOn_References_TheCore()
    {
        typeof(IClusterGpuPool).Assembly.GetReferencedAssemblies().Select(a => a.Name).Should().Contain("Exo.Gpu.Clustering");
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Exo.Gpu.Clustering.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Exo.Gpu.Clustering.sln not found above " + AppContext.BaseDirectory);
    }
}
