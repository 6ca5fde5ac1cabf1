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

        var now = _clock.Now();
        foreach (var slot in Volatile.Read(ref _table).Slots)
        {
            var s = slot.ReadSnapshot();
            if (s.Health(now, _settings.StalenessTicks) != slot.Published || (s.CriticalEventUntil != 0 && now >= s.CriticalEventUntil))
            {
                RefreshHealth(slot);
            }
        }
    }

    /// <summary>
    /// Re-judges one device against the clock; publishes a change, in order, under the health lock. The reason is put
    /// in words, and the wall clock read for the change's stamp, only when the health changes.
    /// </summary>
    private void RefreshHealth(DeviceSlot slot)
    {
        lock (_healthLock)
        {
            var now = _clock.Now();
            GpuHealthChange? change = null;
            slot.Enter();
            try
            {
                var health = slot.JudgeHeld(now, _settings);
                if (health != slot.Published)
                {
                    change = new GpuHealthChange(slot.Device, slot.Published, health, slot.DescribeHeld(health, now, _settings), _time.GetUtcNow());
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
