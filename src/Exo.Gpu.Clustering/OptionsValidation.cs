using System.Globalization;
using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering;

/// <summary>
/// What the options validators share. Each options type has one validator,
/// <c>static void Validate(TOptions options, string path, List&lt;string&gt; errors)</c>, that adds one sentence per
/// invalid value, named by its property path (<c>Selector.MaxLeasesPerDevice must be at least 1; it is 0.</c>); a
/// consumer of the options calls its <c>ThrowIfInvalid</c> once and throws one <see cref="ArgumentException"/> listing
/// every error.
/// </summary>
internal static class OptionsValidation
{
    /// <summary>Adds <c>{path}{name} {rule}; it is {value}.</c>.</summary>
    /// <param name="errors">Where the error goes.</param>
    /// <param name="path">The property path of the options object: empty, or ending with a dot (<c>Selector.</c>).</param>
    /// <param name="name">The property.</param>
    /// <param name="rule">What the value must be, starting with "must".</param>
    /// <param name="value">The value, formatted with the invariant culture.</param>
    public static void Add(List<string> errors, string path, string name, string rule, object? value) =>
        errors.Add(string.Create(CultureInfo.InvariantCulture, $"{path}{name} {rule}; it is {Format(value)}."));

    /// <summary>Adds <c>{path}{name} must not be null.</c>.</summary>
    /// <param name="errors">Where the error goes.</param>
    /// <param name="path">The property path of the options object.</param>
    /// <param name="name">The property.</param>
    public static void AddNull(List<string> errors, string path, string name) => errors.Add($"{path}{name} must not be null.");

    /// <summary>Throws one exception listing every error, when there is any.</summary>
    /// <param name="errors">The errors, each a sentence.</param>
    /// <param name="what">What the options configure, for the message: <c>Invalid {what} options: …</c>.</param>
    /// <param name="paramName">The parameter that held the options.</param>
    /// <exception cref="ArgumentException"><paramref name="errors"/> is not empty.</exception>
    public static void ThrowIfAny(List<string> errors, string what, string paramName)
    {
        if (errors.Count > 0)
        {
            throw new ArgumentException($"Invalid {what} options: {string.Join(" ", errors)}", paramName);
        }
    }

    /// <summary>A value as the messages show it, in the invariant culture.</summary>
    /// <param name="value">The value.</param>
    /// <returns><c>null</c>, <c>enter 85 / leave 80</c> for a threshold, else the invariant text.</returns>
    public static string Format(object? value) => value switch
    {
        null => "null",
        HealthThreshold t => string.Create(CultureInfo.InvariantCulture, $"enter {t.Enter} / leave {t.Leave}"),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}
