using Exo.Gpu.Clustering.Backends.Simulated;

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
internal static class BackendChoice
{
    public static readonly string[] Names = ["auto", "simulated"];

    public static ValueTask<BackendSelection> CreateAsync(BackendRequest request, TimeProvider time, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var backend = new SimulatedGpuBackend(request.ToSimulatedOptions(time));
        var note = request.Backend == "auto" ? "auto: the NVML backend is not built yet, using the simulated cluster" : null;
        return new ValueTask<BackendSelection>(new BackendSelection(backend, "simulated", note));
    }
}
