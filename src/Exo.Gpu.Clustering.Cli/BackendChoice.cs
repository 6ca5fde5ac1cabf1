using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Backends.Simulated;
using Exo.Gpu.Clustering.Devices;

namespace Exo.Gpu.Clustering.Cli;

/// <summary>What a command asked for with <c>--backend</c> and the simulated cluster's options.</summary>
internal sealed record BackendRequest(string Backend, string Profile, int? DeviceCount, int Seed, string? Faults)
{
    public static readonly string[] ValueOptions = ["backend", "profile", "devices", "seed", "faults"];

    public static BackendRequest FromArguments(CliArguments args, string defaultProfile = "homogeneous") => new(
        args.GetChoice("backend", "auto", BackendChoice.Names),
        args.GetChoice("profile", defaultProfile, "homogeneous", "heterogeneous"),
        args.Has("devices") ? args.GetInt("devices", 8, 1, 1024) : null,
        args.GetInt("seed", 1, int.MinValue, int.MaxValue),
        args.Get("faults"));

    public SimulatedGpuBackendOptions ToSimulatedOptions(TimeProvider time)
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
            Profile = Profile == "heterogeneous" ? SimulatedClusterProfile.Heterogeneous(count) : SimulatedClusterProfile.Homogeneous(count),
            Seed = Seed,
            TimeProvider = time,
            FaultPlan = plan,
        };
    }
}

/// <summary>Makes the backend a command asked for.</summary>
/// <remarks>
/// <c>nvml</c> is strict: a missing driver is exit code 3 with the searched paths. <c>auto</c> uses NVML when it loads and
/// shows a device, else the simulated cluster, and says so in the note. <c>EXO_GPU_NVML_PATH</c> and <c>EXO_GPU_CUDA_PATH</c>
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
        var simulated = request.ToSimulatedOptions(time); // validates --faults whatever the backend
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
            TimeProvider = time,
            CudaVisibleDevices = environment("CUDA_VISIBLE_DEVICES"),
            CudaDeviceOrder = environment("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" ? CudaDeviceOrder.PciBusId : CudaDeviceOrder.FastestFirst,
        };
        var selection = await GpuBackendFactory.CreateAsync(choice, nvml, simulated, cancellationToken).ConfigureAwait(false);
        var name = selection.Kind == GpuBackendKind.Nvml ? "nvml" : "simulated";
        string? note = null;
        if (choice == GpuBackendChoice.Auto)
        {
            note = selection.FallbackReason is { } reason
                ? $"auto: NVML unavailable, using the simulated cluster: {reason}"
                : "auto: NVML found";
        }

        return new BackendSelection(selection.Backend, name, note);
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
