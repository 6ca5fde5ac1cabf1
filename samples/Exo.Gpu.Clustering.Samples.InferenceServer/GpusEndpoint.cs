namespace Exo.Gpu.Clustering.Samples.InferenceServer;

/// <summary><c>GET /gpus</c>: every device with its health, its latest reading and its leases.</summary>
internal static class GpusEndpoint
{
    public static IResult Handle(GpuClusteringManager manager)
    {
        var leases = manager.GetLeaseSnapshot().Devices.ToDictionary(d => d.Device.Uuid, StringComparer.Ordinal);
        var devices = manager.GetStatuses().Select(s =>
        {
            leases.TryGetValue(s.Device.Uuid, out var held);
            return new GpuView(
                s.Device.Index,
                s.Device.Uuid,
                s.Device.Name,
                s.Health.ToString(),
                s.Reason,
                s.Device.TotalMemoryBytes,
                s.Latest?.MemoryUsedBytes,
                s.Latest?.UtilizationPercent,
                s.Latest?.TemperatureC,
                held?.ActiveLeases ?? 0,
                held?.ReservedBytes ?? 0,
                held?.Waiters ?? 0);
        }).ToArray();
        return Results.Ok(new GpusResponse(manager.BackendKind.ToString(), devices));
    }
}

/// <summary>The answer of <c>/gpus</c>.</summary>
/// <param name="Backend">The backend in use (<c>Simulated</c> or <c>Nvml</c>).</param>
/// <param name="Devices">The devices, by index.</param>
internal sealed record GpusResponse(string Backend, IReadOnlyList<GpuView> Devices);

/// <summary>One device in <c>/gpus</c>.</summary>
/// <param name="Index">The device's index.</param>
/// <param name="Uuid">Its UUID.</param>
/// <param name="Name">Its name.</param>
/// <param name="Health">Its health.</param>
/// <param name="Reason">Why it is not Healthy, or <see langword="null"/>.</param>
/// <param name="MemoryTotalBytes">Its memory.</param>
/// <param name="MemoryUsedBytes">Memory in use at the latest reading.</param>
/// <param name="UtilizationPercent">Utilization at the latest reading.</param>
/// <param name="TemperatureC">Temperature at the latest reading.</param>
/// <param name="ActiveLeases">Leases held on it now.</param>
/// <param name="ReservedBytes">Bytes those leases reserve.</param>
/// <param name="Waiters">Requests waiting that it could serve.</param>
internal sealed record GpuView(
    int Index,
    string Uuid,
    string Name,
    string Health,
    string? Reason,
    long MemoryTotalBytes,
    long? MemoryUsedBytes,
    double? UtilizationPercent,
    double? TemperatureC,
    int ActiveLeases,
    long ReservedBytes,
    int Waiters);
