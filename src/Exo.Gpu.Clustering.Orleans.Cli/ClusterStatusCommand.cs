using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary><c>status</c>: the cluster's hosts and devices, health and reservations, from the directory, as a table or JSON.</summary>
internal static class ClusterStatusCommand
{
    public static async Task<int> RunAsync(ClusterCliArgs args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var gateway = args.Int("--gateway", 30000, 1, 65535);
        var json = args.Flag("--json");
        args.RejectUnknown();

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client => client.UseLocalhostClustering(gateway, LoopbackCluster.ServiceId, LoopbackCluster.DefaultClusterId));
        using var host = builder.Build();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(TimeSpan.FromSeconds(20));
        try
        {
            await host.StartAsync(bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await error.WriteLineAsync($"status: no cluster answered on gateway 127.0.0.1:{gateway} ({e.GetType().Name}: {e.Message}); start one with `exo-gpu-cluster serve`").ConfigureAwait(false);
            return 3;
        }

        await using var pool = host.Services.GetRequiredService<IClusterClient>().CreateClusterGpuPool();
        var view = await pool.GetViewAsync(bound.Token).ConfigureAwait(false);
        Write(view, json, output);
        await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return 0;
    }

    internal static void Write(ClusterGpuView view, bool json, TextWriter output)
    {
        if (!json)
        {
            output.WriteLine($"{"host",-12} {"gen",10} {"dev",3} {"uuid",-40} {"health",-9} {"reserved",10} {"capacity",10} {"leases",6}");
            foreach (var host in view.Hosts)
            {
                foreach (var d in host.Devices)
                {
                    output.WriteLine($"{host.Host.HostId,-12} {host.Host.Generation,10} {d.Index,3} {d.Uuid,-40} {d.Health,-9} {ByteSize.Format(d.CapacityBytes - d.FreeBytes),10} {ByteSize.Format(d.CapacityBytes),10} {d.ActiveLeases,6}");
                }
            }

            foreach (var gone in view.Departed)
            {
                output.WriteLine($"{gone.HostId,-12} {gone.Generation,10} departed");
            }

            return;
        }

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("hosts");
            foreach (var host in view.Hosts)
            {
                w.WriteStartObject();
                w.WriteString("id", host.Host.HostId);
                w.WriteNumber("generation", host.Host.Generation);
                w.WriteNumber("activeLeases", host.ActiveLeases);
                w.WriteNumber("granted", host.Granted);
                w.WriteNumber("released", host.Released);
                w.WriteNumber("revoked", host.Revoked);
                w.WriteNumber("expired", host.Expired);
                w.WriteStartArray("devices");
                foreach (var d in host.Devices)
                {
                    w.WriteStartObject();
                    w.WriteNumber("index", d.Index);
                    w.WriteString("uuid", d.Uuid);
                    w.WriteString("name", d.Name);
                    w.WriteString("health", d.Health.ToString());
                    w.WriteNumber("capacityBytes", d.CapacityBytes);
                    w.WriteNumber("reservedBytes", d.CapacityBytes - d.FreeBytes);
                    w.WriteNumber("activeLeases", d.ActiveLeases);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("departed");
            foreach (var gone in view.Departed)
            {
                w.WriteStartObject();
                w.WriteString("id", gone.HostId);
                w.WriteNumber("generation", gone.Generation);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        output.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }
}
