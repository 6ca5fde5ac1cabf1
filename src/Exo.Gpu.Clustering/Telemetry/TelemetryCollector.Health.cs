using Exo.Gpu.Clustering.Devices;
using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Telemetry;

public sealed partial class TelemetryCollector
{
    /// <summary>Re-judges every device against the clock and publishes what changed (staleness, expired events).</summary>
    internal void Sweep()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        var now = _time.GetUtcNow().UtcTicks;
        foreach (var slot in Volatile.Read(ref _table).Slots)
        {
            var s = slot.ReadSnapshot();
            if (s.Health(now, _settings.StalenessTicks) != slot.Published || (s.CriticalEventUntil != 0 && now >= s.CriticalEventUntil))
            {
                RefreshHealth(slot);
            }
        }
    }

    /// <summary>Re-judges one device against the clock; publishes a change, in order, under the health lock.</summary>
    private void RefreshHealth(DeviceSlot slot)
    {
        lock (_healthLock)
        {
            var now = _time.GetUtcNow();
            GpuHealthChange? change = null;
            slot.Enter();
            try
            {
                var (health, reason) = slot.JudgeAndDescribeHeld(now.UtcTicks, _settings);
                if (health != slot.Published)
                {
                    change = new GpuHealthChange(slot.Device, slot.Published, health, reason, now);
                    slot.Published = health;
                }
            }
            finally
            {
                slot.Exit();
            }

            if (change is not null)
            {
                Publish(change);
            }
        }
    }

    private void Publish(GpuHealthChange change)
    {
        var level = change.Current switch
        {
            GpuHealth.Healthy => LogLevel.Information,
            GpuHealth.Unknown when change.Previous == GpuHealth.Lost => LogLevel.Information,
            _ => LogLevel.Warning,
        };
        TelemetryLog.HealthChanged(_logger, level, change.Device.Uuid, change.Previous, change.Current, change.Reason);
        _healthSubscribers.Publish(change);
        if (HealthChanged is { } handlers)
        {
            foreach (var handler in handlers.GetInvocationList())
            {
                try
                {
                    ((Action<GpuHealthChange>)handler)(change);
                }
#pragma warning disable CA1031 // A handler's bug must not stop the others or the collector.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    TelemetryLog.HealthHandlerFailed(_logger, e);
                }
            }
        }
    }
}
