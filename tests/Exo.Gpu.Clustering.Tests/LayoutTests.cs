using System.CodeDom.Compiler;
using System.Reflection;
using System.Runtime.CompilerServices;
using Exo.Gpu.Clustering.Diagnostics;

namespace Exo.Gpu.Clustering.Tests;

public class LayoutTests
{
    [Fact]
    public void NoTwoTypesOfTheCoreShareAName()
    {
        typeof(LogEventIds).Assembly.GetTypes()
            .Where(t => !t.IsDefined(typeof(CompilerGeneratedAttribute)) && !t.IsDefined(typeof(GeneratedCodeAttribute)) && !t.Name.Contains('<', StringComparison.Ordinal))
            .Where(t => t.Namespace?.StartsWith("Exo.Gpu.Clustering", StringComparison.Ordinal) == true)
            .GroupBy(t => t.Name.Split('`')[0], StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(t => t.FullName))}")
            .Should().BeEmpty("a name says which type it is without its namespace");
    }
}
