using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>PCI bus ids in one form, so NVML's <c>00000000:18:00.0</c> and CUDA's <c>0000:18:00.0</c> compare equal.</summary>
internal static class PciBusIds
{
    /// <summary>
    /// <c>domain:bus:device.function</c> (hex, any case, domain of up to 8 digits, optional) as
    /// <c>DDDDDDDD:BB:DD.F</c> in upper case; <see langword="null"/> when it is not one.
    /// </summary>
    public static string? Normalize(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var parts = value.Trim().Split(':');
        if (parts.Length is < 2 or > 3)
        {
            return null;
        }

        var domainText = parts.Length == 3 ? parts[0] : "0";
        var busText = parts[^2];
        var dot = parts[^1].Split('.');
        if (dot.Length != 2
            || !uint.TryParse(domainText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var domain) || domainText.Length > 8
            || !uint.TryParse(busText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var bus) || bus > 0xFF
            || !uint.TryParse(dot[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var device) || device > 0x1F
            || !uint.TryParse(dot[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var function) || function > 0x7)
        {
            return null;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{domain:X8}:{bus:X2}:{device:X2}.{function:X}");
    }
}
