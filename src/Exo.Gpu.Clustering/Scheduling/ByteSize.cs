using System.Globalization;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>Formats byte counts for messages: <c>20 GiB</c>, <c>12.5 GiB</c>, <c>512 MiB</c>, <c>100 B</c>.</summary>
internal static class ByteSize
{
    private const long KiB = 1024;
    private const long MiB = KiB * 1024;
    private const long GiB = MiB * 1024;

    public static string Format(long bytes)
    {
        var abs = Math.Abs((double)bytes);
        return abs switch
        {
            >= GiB => Scaled(bytes, GiB, "GiB"),
            >= MiB => Scaled(bytes, MiB, "MiB"),
            >= KiB => Scaled(bytes, KiB, "KiB"),
            _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
        };
    }

    private static string Scaled(long bytes, long unit, string name) =>
        ((double)bytes / unit).ToString("0.##", CultureInfo.InvariantCulture) + " " + name;
}
