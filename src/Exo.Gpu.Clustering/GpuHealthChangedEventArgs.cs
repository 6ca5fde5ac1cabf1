using Exo.Gpu.Clustering.Telemetry;

namespace Exo.Gpu.Clustering;

/// <summary>A device's health changed.</summary>
public sealed class GpuHealthChangedEventArgs : EventArgs
{
    /// <summary>Creates the event data.</summary>
    /// <param name="change">The change.</param>
    /// <exception cref="ArgumentNullException"><paramref name="change"/> is <see langword="null"/>.</exception>
    public GpuHealthChangedEventArgs(GpuHealthChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        Change = change;
    }

    /// <summary>The change.</summary>
    public GpuHealthChange Change { get; }
}
