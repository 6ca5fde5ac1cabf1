using System.Text.RegularExpressions;

namespace Exo.Gpu.Clustering.Tests.Architecture;

/// <summary>
/// The house rules of <c>src/</c>, read from the source files: no file longer than <see cref="MaxLines"/> lines, at
/// most one top-level public type per file and named for it, and no two types (nested ones included) with one name.
/// </summary>
public partial class SourceLayoutTests
{
    /// <summary>"About 600 lines": the limit the restructuring set.</summary>
    private const int MaxLines = 600;

    private static readonly string Root = FindRoot();

    private static readonly IReadOnlyList<string> Files = [.. Directory
        .EnumerateFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories)
        .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal)];

    [Fact]
    public void Sources_Found_CoverEveryProject()
    {
        Files.Should().Contain(f => f.EndsWith("GpuClusteringManager.cs", StringComparison.Ordinal));
        Files.Should().Contain(f => f.EndsWith("CliApp.cs", StringComparison.Ordinal));
        Declarations().Should().Contain(d => d.Name == "DeviceSelector" && d.Public && d.TopLevel);
    }

    [Fact]
    public void EverySourceFile_AtMostMaxLines()
    {
        var tooLong = Files
            .Select(f => (File: Relative(f), Lines: File.ReadAllLines(f).Length))
            .Where(f => f.Lines > MaxLines)
            .Select(f => $"{f.File}: {f.Lines} lines")
            .ToList();
        tooLong.Should().BeEmpty(Listed(tooLong));
    }

    [Fact]
    public void EveryPublicTopLevelType_InAFileNamedForIt_OnePerFile()
    {
        var problems = new List<string>();
        foreach (var group in Declarations().Where(d => d.Public && d.TopLevel).GroupBy(d => d.File))
        {
            var stem = Path.GetFileName(group.Key).Split('.')[0];
            var names = group.Select(d => d.Name).Distinct().ToList();
            if (names.Count > 1)
            {
                problems.Add($"{Relative(group.Key)} declares {string.Join(", ", names)}");
            }

            problems.AddRange(names.Where(n => n != stem).Select(n => $"{Relative(group.Key)} declares public {n}"));
        }

        problems.Should().BeEmpty(Listed(problems));
    }

    [Fact]
    public void EveryType_NameUsedOnce()
    {
        // Partial declarations of one type share a name: count a name once per namespace-and-nesting path.
        var clashes = Declarations()
            .Where(d => !d.Partial)
            .Concat(Declarations().Where(d => d.Partial).DistinctBy(d => (d.Namespace, d.Name)))
            .GroupBy(d => d.Name)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(d => Relative(d.File)))}")
            .ToList();
        clashes.Should().BeEmpty(Listed(clashes));
    }

    [Fact]
    public void Declarations_ReadFromSource_FindNestedAndRecordTypes()
    {
        var found = Parse("x/Sample.cs", """
            namespace A;

            /// <summary>class Comment</summary>
            public sealed partial class Sample
            {
                private readonly record struct Inner(int X);
                // class NotAType
            }

            internal enum Other { One }
            """).ToList();
        found.Select(d => (d.Name, d.Public, d.TopLevel)).Should().Equal(("Sample", true, true), ("Inner", false, false), ("Other", false, true));
    }

    private static List<Declaration> Declarations() => [.. Files.SelectMany(f => Parse(f, File.ReadAllText(f)))];

    private static IEnumerable<Declaration> Parse(string file, string text)
    {
        var ns = NamespacePattern().Match(text) is { Success: true } m ? m.Groups[1].Value : string.Empty;
        foreach (var line in text.Split('\n'))
        {
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("//", StringComparison.Ordinal) || trimmed.StartsWith('*'))
            {
                continue;
            }

            var match = DeclarationPattern().Match(line);
            if (match.Success)
            {
                var modifiers = match.Groups["modifiers"].Value;
                yield return new Declaration(
                    file,
                    ns,
                    match.Groups["name"].Value,
                    Public: modifiers.Contains("public", StringComparison.Ordinal),
                    TopLevel: match.Groups["indent"].Value.Length == 0,
                    Partial: modifiers.Contains("partial", StringComparison.Ordinal));
            }
        }
    }

    private static string Listed(IEnumerable<string> problems) => "these break the rule:\n" + string.Join("\n", problems);

    private static string Relative(string file) => Path.GetRelativePath(Root, file);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Exo.Gpu.Clustering.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Exo.Gpu.Clustering.sln) was not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^namespace\s+([A-Za-z0-9_.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespacePattern();

    [GeneratedRegex(@"^(?<indent>\s*)(?<modifiers>(?:(?:public|internal|private|protected|file|sealed|static|abstract|readonly|partial|ref|unsafe|new)\s+)*)(?:record\s+(?:struct|class)\s+|record\s+|class\s+|struct\s+|interface\s+|enum\s+)(?<name>[A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex DeclarationPattern();

    private sealed record Declaration(string File, string Namespace, string Name, bool Public, bool TopLevel, bool Partial);
}
