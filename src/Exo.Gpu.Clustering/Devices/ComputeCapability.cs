using System.Globalization;

namespace Exo.Gpu.Clustering.Devices;

/// <summary>A CUDA compute capability such as 9.0 (Hopper) or 8.6 (Ampere GA10x).</summary>
public readonly record struct ComputeCapability : IComparable<ComputeCapability>
{
    /// <summary>Creates a compute capability.</summary>
    /// <param name="major">The major version, 1 or more.</param>
    /// <param name="minor">The minor version, 0 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="major"/> is below 1 or <paramref name="minor"/> is negative.</exception>
    public ComputeCapability(int major, int minor)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(major, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(minor);
        Major = major;
        Minor = minor;
    }

    /// <summary>The major version.</summary>
    public int Major { get; }

    /// <summary>The minor version.</summary>
    public int Minor { get; }

    /// <inheritdoc />
    public int CompareTo(ComputeCapability other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    /// <summary>Whether <paramref name="left"/> is older than <paramref name="right"/>.</summary>
    public static bool operator <(ComputeCapability left, ComputeCapability right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> is newer than <paramref name="right"/>.</summary>
    public static bool operator >(ComputeCapability left, ComputeCapability right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> is older than or equal to <paramref name="right"/>.</summary>
    public static bool operator <=(ComputeCapability left, ComputeCapability right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> is newer than or equal to <paramref name="right"/>.</summary>
    public static bool operator >=(ComputeCapability left, ComputeCapability right) => left.CompareTo(right) >= 0;

    /// <summary>Formats as <c>major.minor</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Major}.{Minor}");
}
