using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>What a command asked for with <c>--backend</c> and the simulated cluster's options.</summary>
/// <param name="Backend">auto, nvml or simulated.</param>
/// <param name="Profile">The simulated cluster's profile: homogeneous or heterogeneous.</param>
/// <param name="DeviceCount">The simulated cluster's size, or <see langword="null"/> for 8.</param>
/// <param name="Seed">The simulated cluster's seed.</param>
/// <param name="Faults">The simulated cluster's fault plan, or <see langword="null"/>.</param>
/// <param name="RealDevicesOnly">
/// No <c>--backend</c> was given to a command that hands devices out (<c>select</c>, <c>plan --by</c>): the backend is
/// NVML, strictly, so a missing driver is exit code 3 instead of a simulated device.
/// </param>
internal sealed record BackendRequest(string Backend, string Profile, int? DeviceCount, int Seed, string? Faults, bool RealDevicesOnly = false)
{
    public static readonly string[] ValueOptions = ["backend", "profile", "devices", "seed", "faults"];

    /// <summary>Reads the backend options; <paramref name="realDevicesOnly"/> makes NVML the default and refuses the fallback.</summary>
    public static BackendRequest FromArguments(CliArguments args, string defaultProfile = "homogeneous", bool realDevicesOnly = false) => new(
        args.GetChoice("backend", realDevicesOnly ? "nvml" : "auto", BackendChoice.Names),
        args.GetChoice("profile", defaultProfile, "homogeneous", "heterogeneous"),
        args.Has("devices") ? args.GetInt("devices", 8, 1, 1024) : null,
        args.GetInt("seed", 1, int.MinValue, int.MaxValue),
        args.Get("faults"),
        realDevicesOnly && !args.Has("backend"));

    public SimulatedGpuBackendOptions ToSimulatedOptions()
    {
        var count = DeviceCount ?? 8;
        SimulatedFaultPlan plan;
        try
        {
            plan = Faults is null ? SimulatedFaultPlan.None : SimulatedFaultPlan.Parse(Faults);
        }
        catch (FormatException e)
        {
            throw new CliUsageException("--faults", e.Message);
        }

        if (plan.Faults.FirstOrDefault(f => f.DeviceIndex >= count) is { } bad)
        {
            throw new CliUsageException("--faults", $"fault '{bad}' names device {bad.DeviceIndex}, but there are {count} devices.");
        }

        return new SimulatedGpuBackendOptions
        {
            DeviceCount = count,
            Profile = Profile == "heterogeneous" ? SimulatedProfileKind.Heterogeneous : SimulatedProfileKind.Homogeneous,
            Seed = Seed,
            Faults = Faults,
        };
    }
}

/// <summary>Makes the backend a command asked for.</summary>
/// <remarks>
/// <c>nvml</c> is strict: a missing driver is exit code 3 with the searched paths. <c>auto</c> uses NVML when it loads and
/// shows a device, else the simulated cluster, and says so in the note (and, through <see cref="WarnIfFellBackAsync"/>, on
/// stderr). <c>EXO_GPU_NVML_PATH</c> and <c>EXO_GPU_CUDA_PATH</c>
/// name other NVML and CUDA driver libraries (e.g. the fake one the tests build).
/// </remarks>
internal static class BackendChoice
{
    public const string NvmlPathVariable = "EXO_GPU_NVML_PATH";
    public const string CudaPathVariable = "EXO_GPU_CUDA_PATH";

    public static readonly string[] Names = ["auto", "simulated", "nvml"];

    public static async ValueTask<BackendSelection> CreateAsync(
        BackendRequest request, TimeProvider time, Func<string, string?> environment, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var simulated = request.ToSimulatedOptions(); // validates --faults whatever the backend
        var choice = request.Backend switch
        {
            "nvml" => GpuBackendChoice.Nvml,
            "simulated" => GpuBackendChoice.Simulated,
            _ => GpuBackendChoice.Auto,
        };
        var nvml = new NvmlGpuBackendOptions
        {
            NvmlLibraryPath = NonEmpty(environment(NvmlPathVariable)),
            CudaLibraryPath = NonEmpty(environment(CudaPathVariable)),
            CudaVisibleDevices = environment("CUDA_VISIBLE_DEVICES"),
            CudaDeviceOrder = environment("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" ? CudaDeviceOrder.PciBusId : CudaDeviceOrder.FastestFirst,
        };
        GpuBackendSelection selection;
        try
        {
            selection = await GpuBackendFactory.CreateAsync(choice, nvml, simulated, time, null, cancellationToken).ConfigureAwait(false);
        }
        catch (GpuBackendUnavailableException e) when (request.RealDevicesOnly)
        {
            throw new CliNoDeviceException($"no usable NVIDIA GPU: {e.Message} Real devices only: pass --backend simulated to use the simulated cluster.", e);
        }

        var name = selection.Kind == GpuBackendKind.Nvml ? "nvml" : "simulated";
        string? note = null;
        if (choice == GpuBackendChoice.Auto)
        {
            // The reason itself goes to stderr (WarnIfFellBackAsync): a title stays one line.
            note = selection.FallbackReason is not null ? "auto: NVML unavailable, simulated cluster" : "auto: NVML found";
        }

        return new BackendSelection(selection.Backend, name, note, selection.FallbackReason);
    }

    /// <summary>Says on stderr that <c>--backend auto</c> fell back to the simulated cluster (nothing otherwise).</summary>
    public static async Task WarnIfFellBackAsync(CliContext context, string command, BackendSelection selection)
    {
        if (selection.FallbackReason is { } reason)
        {
            await context.Error.WriteLineAsync($"exo-gpu {command}: NVML unavailable, showing the simulated cluster (--backend auto): {reason}").ConfigureAwait(false);
        }
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
