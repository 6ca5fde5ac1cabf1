using System.Reflection;
using Exo.Gpu.Clustering.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Tests.Diagnostics;

public class LogEventIdsTests
{
    /// <summary>Each log class, its event id range and the prefix its constants take where a method name is taken by another area.</summary>
    private static readonly Dictionary<string, (int First, int Last, string Prefix)> Areas = new(StringComparer.Ordinal)
    {
        ["Exo.Gpu.Clustering.ManagerLog"] = (100, 199, ""),
        ["Exo.Gpu.Clustering.Telemetry.TelemetryLog"] = (200, 299, "Telemetry"),
        ["Exo.Gpu.Clustering.Scheduling.SchedulingLog"] = (300, 399, "Scheduler"),
        ["Exo.Gpu.Clustering.Backends.Nvml.NvmlLog"] = (400, 499, "Nvml"),
    };

    private static readonly IReadOnlyList<(MethodInfo Method, LoggerMessageAttribute Attribute)> Messages =
    [
        .. typeof(LogEventIds).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()!))
            .Where(x => x.Attribute is not null),
    ];

    private static readonly IReadOnlyDictionary<string, int> Constants = typeof(LogEventIds)
        .GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
        .Where(f => f.IsLiteral && f.FieldType == typeof(int))
        .ToDictionary(f => f.Name, f => (int)f.GetRawConstantValue()!, StringComparer.Ordinal);

    [Fact]
    public void EveryLogClass_IsKnown_AndHasMessages()
    {
        var classes = Messages.Select(m => m.Method.DeclaringType!.FullName!).Distinct().ToList();
        classes.Should().BeEquivalentTo(Areas.Keys, "every class with [LoggerMessage] methods has an id range here");
        Messages.Should().HaveCountGreaterThanOrEqualTo(47);
    }

    [Fact]
    public void EventIds_AreUnique()
    {
        Messages.GroupBy(m => m.Attribute.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(Name))}")
            .Should().BeEmpty();
    }

    [Fact]
    public void EveryEventId_IsAConstantOfLogEventIds_NamedForItsMessage()
    {
        foreach (var (method, attribute) in Messages)
        {
            var prefix = Areas[method.DeclaringType!.FullName!].Prefix;
            var names = Constants.Where(c => c.Value == attribute.EventId).Select(c => c.Key).ToList();
            names.Should().ContainSingle($"{Name((method, attribute))} logs id {attribute.EventId}, which must be one constant of LogEventIds")
                .Which.Should().BeOneOf([method.Name, prefix + method.Name], $"the constant of {Name((method, attribute))} is named for it");
        }
    }

    [Fact]
    public void EveryEventId_IsInItsAreasRange()
    {
        foreach (var (method, attribute) in Messages)
        {
            var (first, last, _) = Areas[method.DeclaringType!.FullName!];
            attribute.EventId.Should().BeInRange(first, last, Name((method, attribute)));
        }
    }

    [Fact]
    public void EveryConstant_IsUsedByExactlyOneMessage()
    {
        Constants.Values.Should().OnlyHaveUniqueItems();
        Constants.Where(c => Messages.Count(m => m.Attribute.EventId == c.Value) != 1).Select(c => c.Key)
            .Should().BeEmpty("no constant is left without its message");
    }

    [Fact]
    public void EveryMessage_HasALevelOrTakesOne_AndText()
    {
        foreach (var (method, attribute) in Messages)
        {
            attribute.Message.Should().NotBeNullOrWhiteSpace(Name((method, attribute)));
            var levelIsParameter = method.GetParameters().Any(p => p.ParameterType == typeof(LogLevel));
            (attribute.Level != LogLevel.None || levelIsParameter).Should().BeTrue($"{Name((method, attribute))} has a level");
        }
    }

    private static string Name((MethodInfo Method, LoggerMessageAttribute Attribute) message) =>
        $"{message.Method.DeclaringType!.Name}.{message.Method.Name}";
}
