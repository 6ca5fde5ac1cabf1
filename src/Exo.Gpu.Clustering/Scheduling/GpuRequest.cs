using System.Globalization;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>
/// What a caller needs: memory per device, how many devices (a gang, granted all or nothing), and the constraints a
/// device must meet. Immutable once built; reuse one instance for repeated requests (the selector caches what it
/// derives from it, which keeps selection allocation-free).
/// </summary>
/// <remarks>
/// <para>Every property is validated when it is set, and contradictions between properties (an include list that the
/// exclude list empties, a minimum compute capability above the maximum, more devices than the include list names)
/// are rejected as soon as the second property is set: a <see cref="GpuRequest"/> that exists is consistent. The
/// exception's <see cref="ArgumentException.ParamName"/> is the property's name.</para>
/// <para>What can only be checked against a cluster (more devices than it has, an index or UUID it does not have,
/// include and exclude lists in different keys that cancel out) is checked by the selector, with the same kind of
/// exception naming the property.</para>
/// </remarks>
public sealed class GpuRequest
{
    /// <summary>Backs <see cref="MemoryBytes"/>.</summary>
    private readonly long _memoryBytes;

    /// <summary>Backs <see cref="DeviceCount"/>.</summary>
    private readonly int _deviceCount = 1;

    /// <summary>Backs <see cref="Strategy"/>.</summary>
    private readonly GpuSelectionStrategy? _strategy;

    /// <summary>Backs <see cref="MinComputeCapability"/>.</summary>
    private readonly ComputeCapability? _minComputeCapability;

    /// <summary>Backs <see cref="MaxComputeCapability"/>.</summary>
    private readonly ComputeCapability? _maxComputeCapability;

    /// <summary>Backs <see cref="MaxUtilizationPercent"/>.</summary>
    private readonly double? _maxUtilizationPercent;

    /// <summary>Backs <see cref="MaxTemperatureC"/>.</summary>
    private readonly double? _maxTemperatureC;

    /// <summary>Backs <see cref="MaxTelemetryAge"/>.</summary>
    private readonly TimeSpan? _maxTelemetryAge;

    /// <summary>Backs <see cref="IncludeIndexes"/> (sorted, distinct).</summary>
    private readonly int[]? _includeIndexes;

    /// <summary>Backs <see cref="ExcludeIndexes"/> (sorted, distinct).</summary>
    private readonly int[]? _excludeIndexes;

    /// <summary>Backs <see cref="IncludeUuids"/>.</summary>
    private readonly string[]? _includeUuids;

    /// <summary>Backs <see cref="ExcludeUuids"/>.</summary>
    private readonly string[]? _excludeUuids;

    /// <summary>Backs <see cref="NamePattern"/> (compiled).</summary>
    private readonly NamePattern? _namePattern;

    /// <summary>What the selector last derived from this request for one device set (replaced, never mutated).</summary>
    private ResolvedRequest? _resolved;

    /// <summary>Memory needed on each device, in bytes (default 0: any device with room for nothing more).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a negative value.</exception>
    public long MemoryBytes
    {
        get => _memoryBytes;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(MemoryBytes));
            _memoryBytes = value;
        }
    }

    /// <summary>How many devices: 1 (the default), or more for a gang granted all at once or not at all.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value below 1.</exception>
    /// <exception cref="ArgumentException">More devices than the include lists leave after the exclude lists.</exception>
    public int DeviceCount
    {
        get => _deviceCount;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1, nameof(DeviceCount));
            _deviceCount = value;
            CheckIncludes(nameof(DeviceCount));
        }
    }

    /// <summary>How to rank eligible devices; <see langword="null"/> (the default) uses the selector's default.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to an undefined value.</exception>
    public GpuSelectionStrategy? Strategy
    {
        get => _strategy;
        init
        {
            if (value is { } s && !Enum.IsDefined(s))
            {
                throw new ArgumentOutOfRangeException(nameof(Strategy), s, "Unknown strategy.");
            }

            _strategy = value;
        }
    }

    /// <summary>The lowest acceptable compute capability; a device whose capability is unknown does not qualify.</summary>
    /// <exception cref="ArgumentException">Above <see cref="MaxComputeCapability"/>.</exception>
    public ComputeCapability? MinComputeCapability
    {
        get => _minComputeCapability;
        init
        {
            _minComputeCapability = value;
            CheckComputeCapabilities(nameof(MinComputeCapability));
        }
    }

    /// <summary>The highest acceptable compute capability; a device whose capability is unknown does not qualify.</summary>
    /// <exception cref="ArgumentException">Below <see cref="MinComputeCapability"/>.</exception>
    public ComputeCapability? MaxComputeCapability
    {
        get => _maxComputeCapability;
        init
        {
            _maxComputeCapability = value;
            CheckComputeCapabilities(nameof(MaxComputeCapability));
        }
    }

    /// <summary>The highest acceptable utilization in percent (0–100); a device that does not report utilization does not qualify.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to NaN or a value outside 0–100.</exception>
    public double? MaxUtilizationPercent
    {
        get => _maxUtilizationPercent;
        init
        {
            if (value is double v && !(v >= 0 && v <= 100))
            {
                throw new ArgumentOutOfRangeException(nameof(MaxUtilizationPercent), v, "Utilization is a percentage from 0 to 100.");
            }

            _maxUtilizationPercent = value;
        }
    }

    /// <summary>
    /// The highest acceptable temperature in °C; a device that does not report its temperature does not qualify.
    /// The selector's <see cref="DeviceSelectorOptions.HotTemperatureC"/> applies as well.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to NaN or an infinite value.</exception>
    public double? MaxTemperatureC
    {
        get => _maxTemperatureC;
        init
        {
            if (value is double v && !double.IsFinite(v))
            {
                throw new ArgumentOutOfRangeException(nameof(MaxTemperatureC), v, "The temperature must be a finite number.");
            }

            _maxTemperatureC = value;
        }
    }

    /// <summary>
    /// The oldest acceptable telemetry reading. Devices without a fresh reading are always excluded; this tightens
    /// the limit for this request.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to zero or a negative time.</exception>
    public TimeSpan? MaxTelemetryAge
    {
        get => _maxTelemetryAge;
        init
        {
            if (value is TimeSpan v && v <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(nameof(MaxTelemetryAge), v, "The age must be positive.");
            }

            _maxTelemetryAge = value;
        }
    }

    /// <summary>Whether a <see cref="GpuHealth.Degraded"/> device qualifies (default: only <see cref="GpuHealth.Healthy"/> ones).</summary>
    public bool AllowDegraded { get; init; }

    /// <summary>
    /// Only these device indexes (<see cref="GpuDevice.Index"/>) qualify, together with any in
    /// <see cref="IncludeUuids"/>. <see langword="null"/> or empty, with <see cref="IncludeUuids"/> also empty: every device.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is negative.</exception>
    /// <exception cref="ArgumentException">Every included device is excluded, or fewer are included than <see cref="DeviceCount"/>.</exception>
    public IReadOnlyList<int>? IncludeIndexes
    {
        get => _includeIndexes;
        init
        {
            _includeIndexes = CopyIndexes(value, nameof(IncludeIndexes));
            CheckIncludes(nameof(IncludeIndexes));
        }
    }

    /// <summary>These device indexes (<see cref="GpuDevice.Index"/>) never qualify.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is negative.</exception>
    /// <exception cref="ArgumentException">Every included device is excluded, or fewer remain than <see cref="DeviceCount"/>.</exception>
    public IReadOnlyList<int>? ExcludeIndexes
    {
        get => _excludeIndexes;
        init
        {
            _excludeIndexes = CopyIndexes(value, nameof(ExcludeIndexes));
            CheckIncludes(nameof(ExcludeIndexes));
        }
    }

    /// <summary>
    /// Only these device UUIDs qualify (compared ignoring case), together with any in <see cref="IncludeIndexes"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A UUID is null, empty or white space; every included device is excluded; or fewer are included than <see cref="DeviceCount"/>.</exception>
    public IReadOnlyList<string>? IncludeUuids
    {
        get => _includeUuids;
        init
        {
            _includeUuids = CopyUuids(value, nameof(IncludeUuids));
            CheckIncludes(nameof(IncludeUuids));
        }
    }

    /// <summary>These device UUIDs never qualify (compared ignoring case).</summary>
    /// <exception cref="ArgumentException">A UUID is null, empty or white space; every included device is excluded; or fewer remain than <see cref="DeviceCount"/>.</exception>
    public IReadOnlyList<string>? ExcludeUuids
    {
        get => _excludeUuids;
        init
        {
            _excludeUuids = CopyUuids(value, nameof(ExcludeUuids));
            CheckIncludes(nameof(ExcludeUuids));
        }
    }

    /// <summary>
    /// Which device names qualify, ignoring case. A pattern with <c>*</c> (any run of characters) or <c>?</c> (one
    /// character) is a glob matched against the whole name (<c>*H100*</c>, <c>NVIDIA A100-SXM4-??GB</c>); a pattern
    /// without them matches anywhere in the name (<c>H100</c> matches <c>NVIDIA H100 80GB HBM3</c>).
    /// </summary>
    /// <exception cref="ArgumentException">Set to an empty or white-space string.</exception>
    public string? NamePattern
    {
        get => _namePattern?.Pattern;
        init
        {
            if (value is not null)
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(value, nameof(NamePattern));
            }

            _namePattern = value is null ? null : new NamePattern(value);
        }
    }

    internal NamePattern? CompiledNamePattern => _namePattern;

    internal ResolvedRequest? Resolved
    {
        get => Volatile.Read(ref _resolved);
        set => Volatile.Write(ref _resolved, value);
    }

    internal bool HasIncludes => _includeIndexes is { Length: > 0 } || _includeUuids is { Length: > 0 };

    /// <summary>Describes the request, e.g. <c>1 device × 20 GiB, max util 50 %</c>.</summary>
    public override string ToString()
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"{_deviceCount} device{(_deviceCount == 1 ? string.Empty : "s")} × {ByteSize.Format(_memoryBytes)}");
        if (_strategy is { } s)
        {
            text += ", " + s;
        }

        if (_maxUtilizationPercent is double u)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", max util {u} %");
        }

        if (_maxTemperatureC is double t)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", max temp {t} °C");
        }

        if (_minComputeCapability is { } min)
        {
            text += $", compute >= {min}";
        }

        if (_maxComputeCapability is { } max)
        {
            text += $", compute <= {max}";
        }

        if (_namePattern is { } p)
        {
            text += $", name '{p.Pattern}'";
        }

        return text;
    }

    internal bool IsIncludedIndex(int index) => _includeIndexes is { } a && Array.BinarySearch(a, index) >= 0;

    internal bool IsExcludedIndex(int index) => _excludeIndexes is { } a && Array.BinarySearch(a, index) >= 0;

    internal bool IsIncludedUuid(string uuid) => _includeUuids is { } a && Contains(a, uuid);

    internal bool IsExcludedUuid(string uuid) => _excludeUuids is { } a && Contains(a, uuid);

    private static bool Contains(string[] values, string uuid)
    {
        foreach (var v in values)
        {
            if (string.Equals(v, uuid, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static int[]? CopyIndexes(IReadOnlyList<int>? value, string name)
    {
        if (value is null)
        {
            return null;
        }

        var copy = new int[value.Count];
        for (var i = 0; i < copy.Length; i++)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value[i], name);
            copy[i] = value[i];
        }

        Array.Sort(copy);
        var distinct = 0;
        for (var i = 0; i < copy.Length; i++)
        {
            if (distinct == 0 || copy[distinct - 1] != copy[i])
            {
                copy[distinct++] = copy[i];
            }
        }

        return copy[..distinct];
    }

    private static string[]? CopyUuids(IReadOnlyList<string>? value, string name)
    {
        if (value is null)
        {
            return null;
        }

        var copy = new List<string>(value.Count);
        foreach (var uuid in value)
        {
            if (string.IsNullOrWhiteSpace(uuid))
            {
                throw new ArgumentException("A UUID must not be null, empty or white space.", name);
            }

            if (!copy.Exists(c => string.Equals(c, uuid, StringComparison.OrdinalIgnoreCase)))
            {
                copy.Add(uuid);
            }
        }

        return [.. copy];
    }

    private void CheckComputeCapabilities(string name)
    {
        if (_minComputeCapability is { } min && _maxComputeCapability is { } max && min > max)
        {
            throw new ArgumentException($"MinComputeCapability {min} is above MaxComputeCapability {max}: no device can qualify.", name);
        }
    }

    /// <summary>
    /// The include lists name at most this many devices once the exclude lists (in the same key) are taken out; so a
    /// request with includes that leave none, or fewer than <see cref="DeviceCount"/>, is contradictory. (An index and
    /// a UUID may name the same device, which only the selector can tell.)
    /// </summary>
    private void CheckIncludes(string name)
    {
        if (!HasIncludes)
        {
            return;
        }

        var remaining = 0;
        foreach (var i in _includeIndexes ?? [])
        {
            remaining += IsExcludedIndex(i) ? 0 : 1;
        }

        foreach (var u in _includeUuids ?? [])
        {
            remaining += IsExcludedUuid(u) ? 0 : 1;
        }

        if (remaining == 0)
        {
            throw new ArgumentException("Every included device is also excluded: no device can qualify.", name);
        }

        if (remaining < _deviceCount)
        {
            throw new ArgumentException(
                string.Create(CultureInfo.InvariantCulture, $"DeviceCount is {_deviceCount}, but the include lists leave at most {remaining} device{(remaining == 1 ? string.Empty : "s")}."),
                name);
        }
    }
}
