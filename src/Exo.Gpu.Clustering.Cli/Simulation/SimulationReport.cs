using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Exo.Gpu.Clustering.Cli.Simulation;

/// <summary>The device lost mid-run.</summary>
internal sealed record LostDevice(int Index, string Uuid, long AtSecond);

/// <summary>One device's share of a simulation.</summary>
internal sealed record DeviceReport(int Index, string Uuid, string Name, int JobsRun, long PeakReservedBytes, double MeanUtilizationPercent, bool Lost);

/// <summary>What a simulation did. Holds simulated time only, so it is the same for the same settings.</summary>
internal sealed record SimulationReport(
    SimulationSettings Settings,
    long SimulatedSeconds,
    LostDevice? Lost,
    int JobsCompleted,
    int JobsRequeued,
    int JobsFailed,
    int JobsUnfinished,
    long LeasesGranted,
    long LeasesReleased,
    long LeasesRevoked,
    long WaitP50Seconds,
    long WaitP95Seconds,
    long WaitMaxSeconds,
    IReadOnlyList<DeviceReport> Devices)
{
    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("seed", Settings.Seed);
            json.WriteString("profile", Settings.Profile);
            json.WriteNumber("devices", Settings.Devices);
            json.WriteNumber("jobs", Settings.Jobs);
            json.WriteNumber("simulatedSeconds", SimulatedSeconds);
            if (Lost is { } lost)
            {
                json.WriteStartObject("lostDevice");
                json.WriteNumber("index", lost.Index);
                json.WriteString("uuid", lost.Uuid);
                json.WriteNumber("atSecond", lost.AtSecond);
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("lostDevice");
            }

            json.WriteNumber("jobsCompleted", JobsCompleted);
            json.WriteNumber("jobsRequeued", JobsRequeued);
            json.WriteNumber("jobsFailed", JobsFailed);
            json.WriteNumber("jobsUnfinished", JobsUnfinished);
            json.WriteStartObject("leases");
            json.WriteNumber("granted", LeasesGranted);
            json.WriteNumber("released", LeasesReleased);
            json.WriteNumber("revoked", LeasesRevoked);
            json.WriteEndObject();
            json.WriteStartObject("waitSeconds");
            json.WriteNumber("p50", WaitP50Seconds);
            json.WriteNumber("p95", WaitP95Seconds);
            json.WriteNumber("max", WaitMaxSeconds);
            json.WriteEndObject();
            json.WriteStartArray("perDevice");
            foreach (var d in Devices)
            {
                json.WriteStartObject();
                json.WriteNumber("index", d.Index);
                json.WriteString("uuid", d.Uuid);
                json.WriteString("name", d.Name);
                json.WriteNumber("jobsRun", d.JobsRun);
                json.WriteNumber("peakReservedBytes", d.PeakReservedBytes);
                json.WriteNumber("meanUtilizationPercent", d.MeanUtilizationPercent);
                json.WriteBoolean("lost", d.Lost);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public string Summary()
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.Append(c, $"simulated {Settings.Jobs} jobs on {Settings.Devices} {Settings.Profile} devices (seed {Settings.Seed}) over {SimulatedSeconds} simulated seconds").AppendLine();
        if (Lost is { } lost)
        {
            text.Append(c, $"device {lost.Index} ({lost.Uuid}) was lost at {lost.AtSecond} s").AppendLine();
        }

        text.Append(c, $"jobs: {JobsCompleted} completed, {JobsRequeued} re-queued, {JobsFailed} failed, {JobsUnfinished} unfinished").AppendLine();
        text.Append(c, $"leases: {LeasesGranted} granted = {LeasesReleased} released + {LeasesRevoked} revoked").AppendLine();
        text.Append(c, $"wait: p50 {WaitP50Seconds} s, p95 {WaitP95Seconds} s, max {WaitMaxSeconds} s");
        return text.ToString();
    }
}
