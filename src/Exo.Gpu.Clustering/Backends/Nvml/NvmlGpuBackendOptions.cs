namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>
/// Settings of an <see cref="NvmlGpuBackend"/>: plain settable properties, validated once, when the backend is created
/// (every invalid value in one <see cref="ArgumentException"/>). The clock and the logger are not options: they are
/// given to the backend's constructor (or to the manager, in <see cref="GpuClusteringServices"/>).
/// </summary>
public sealed class NvmlGpuBackendOptions
{
    /// <summary>The default of <see cref="EventWaitTimeout"/>: 1 s.</summary>
    public static readonly TimeSpan DefaultEventWaitTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The least <see cref="EventWaitTimeout"/>: 1 ms (inclusive).</summary>
    public static readonly TimeSpan MinEventWaitTimeout = TimeSpan.FromMilliseconds(1);

    /// <summary>The largest <see cref="EventWaitTimeout"/>: 1 minute (inclusive).</summary>
    public static readonly TimeSpan MaxEventWaitTimeout = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The NVML library to load: a file path or a name the dynamic loader resolves. <see langword="null"/> (the default)
    /// searches <c>libnvidia-ml.so.1</c> on Linux (the unversioned <c>libnvidia-ml.so</c> is often absent), and
    /// <c>nvml.dll</c> then <c>%ProgramW6432%\NVIDIA Corporation\NVSMI\nvml.dll</c> on Windows.
    /// </summary>
    /// <remarks>The bindings are process-wide: every backend of a process must name the same library.</remarks>
    public string? NvmlLibraryPath { get; set; }

    /// <summary>
    /// The CUDA driver library to load (device ordinals, SM counts). <see langword="null"/> (the default) searches
    /// <c>libcuda.so.1</c> on Linux and <c>nvcuda.dll</c> on Windows, and works without it (no CUDA ordinals or SM counts)
    /// when it is missing; a path set here must load.
    /// </summary>
    public string? CudaLibraryPath { get; set; }

    /// <summary>
    /// Which devices to use, as <c>CUDA_VISIBLE_DEVICES</c> spells it (indices in <see cref="CudaDeviceOrder"/> order,
    /// GPU UUIDs or unique prefixes of them such as <c>GPU-8f6c</c>; <c>-1</c> or an empty string for none;
    /// <see langword="null"/> for all). Defaults to the process's <c>CUDA_VISIBLE_DEVICES</c>.
    /// </summary>
    public string? CudaVisibleDevices { get; set; } = Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES");

    /// <summary>The order CUDA ordinals and the indices of <see cref="CudaVisibleDevices"/> follow; a defined <see cref="Nvml.CudaDeviceOrder"/>. Defaults to the process's <c>CUDA_DEVICE_ORDER</c>.</summary>
    public CudaDeviceOrder CudaDeviceOrder { get; set; } = CudaVisibilitySettings.ParseOrder(Environment.GetEnvironmentVariable("CUDA_DEVICE_ORDER"));

    /// <summary>
    /// The longest one <c>nvmlEventSetWait_v2</c> blocks in <see cref="NvmlGpuBackend.WatchEventsAsync"/>: the loop
    /// notices a stop within this time. Also the back-off after a failed wait. One second by default
    /// (<see cref="DefaultEventWaitTimeout"/>); <see cref="MinEventWaitTimeout"/> (1 ms) to <see cref="MaxEventWaitTimeout"/> (1 minute).
    /// </summary>
    public TimeSpan EventWaitTimeout { get; set; } = DefaultEventWaitTimeout;

    /// <summary>Reads the process environment (the settings the CUDA driver itself applied); replaced in tests.</summary>
    internal Func<string, string?> ProcessEnvironment { get; set; } = Environment.GetEnvironmentVariable;

    /// <summary>The names searched for the CUDA driver when <see cref="CudaLibraryPath"/> is null; replaced in tests.</summary>
    internal IReadOnlyList<string>? CudaSearchPaths { get; set; }
}
