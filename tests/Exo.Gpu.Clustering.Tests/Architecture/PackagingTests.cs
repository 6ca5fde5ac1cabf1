using System.Xml.Linq;

namespace Exo.Gpu.Clustering.Tests.Architecture;

/// <summary>
/// What a consumer of the packages relies on, read from the project files: the Microsoft.Extensions.* floor, package
/// validation, tags, a README for the package page and the licence in every package.
/// </summary>
public class PackagingTests
{
    /// <summary>The lowest version of Microsoft.Extensions.* a consumer on .NET 10 has: the src projects ask for no more.</summary>
    private const string Floor = "10.0.0";

    private static readonly string Root = FindRoot();

    private static readonly string[] Packable = ["Exo.Gpu.Clustering", "Exo.Gpu.Clustering.Hosting", "Exo.Gpu.Clustering.Cli"];

    [Fact]
    public void SrcProjects_MicrosoftExtensionsDependencies_AtTheFloor()
    {
        var central = XDocument.Load(Path.Combine(Root, "Directory.Packages.props")).Descendants("PackageVersion")
            .ToDictionary(e => (string)e.Attribute("Include")!, e => (string)e.Attribute("Version")!, StringComparer.OrdinalIgnoreCase);
        var references = Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.csproj", SearchOption.AllDirectories)
            .SelectMany(p => XDocument.Load(p).Descendants("PackageReference").Select(r => (Project: Path.GetFileName(p), Reference: r)))
            .Where(r => ((string)r.Reference.Attribute("Include")!).StartsWith("Microsoft.Extensions.", StringComparison.Ordinal))
            .ToList();

        references.Should().NotBeEmpty();
        foreach (var (project, reference) in references)
        {
            var id = (string)reference.Attribute("Include")!;
            var version = (string?)reference.Attribute("VersionOverride") ?? (string?)reference.Attribute("Version") ?? central.GetValueOrDefault(id);
            version.Should().Be(Floor, $"{project} references {id}");
        }
    }

    [Theory]
    [MemberData(nameof(Projects))]
    public void PackableProject_ValidatedTaggedWithReadmeAndLicence(string name)
    {
        var directory = Path.Combine(Root, "src", name);
        var project = XDocument.Load(Path.Combine(directory, name + ".csproj"));
        string? Property(string property) => project.Descendants(property).Select(e => e.Value).LastOrDefault();

        Property("IsPackable").Should().Be("true");
        Property("EnablePackageValidation").Should().Be("true");
        Property("PackageTags").Should().NotBeNullOrWhiteSpace();
        Property("PublishRepositoryUrl").Should().Be("true");
        var readme = Property("PackageReadmeFile");
        readme.Should().Be("README.md");
        var packed = project.Descendants("None").Where(n => (string?)n.Attribute("Pack") == "true")
            .Select(n => Path.GetFullPath(Path.Combine(directory, (string)n.Attribute("Include")!))).ToList();
        packed.Should().Contain(Path.Combine(Root, "LICENSE"));
        packed.Should().Contain(p => Path.GetFileName(p) == readme).Which.Should().Match(p => File.Exists(p));
    }

    [Theory]
    [InlineData("Exo.Gpu.Clustering")]
    [InlineData("Exo.Gpu.Clustering.Hosting")]
    public void LibraryPackage_HasItsOwnReadme_NotTheRepositorys(string name)
    {
        var directory = Path.Combine(Root, "src", name);
        var project = XDocument.Load(Path.Combine(directory, name + ".csproj"));
        var readme = project.Descendants("None").Select(n => Path.GetFullPath(Path.Combine(directory, (string)n.Attribute("Include")!)))
            .Single(p => Path.GetFileName(p) == "README.md");

        readme.Should().Be(Path.Combine(directory, "README.md"));
        var text = File.ReadAllText(readme);
        text.Should().Contain($"dotnet add package {name}").And.Contain("## Quick start").And.Contain("## Metrics");
    }

    public static TheoryData<string> Projects() => [.. Packable];

    private static string FindRoot()
    {
        var directory = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(directory, "Exo.Gpu.Clustering.sln")))
        {
            directory = Path.GetDirectoryName(directory) ?? throw new InvalidOperationException("The repository root was not found.");
        }

        return directory;
    }
}
