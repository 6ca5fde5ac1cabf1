namespace Exo.Gpu.Clustering.Telemetry;

/// <summary>
/// A health rule's two thresholds: the rule turns on when a reading reaches <see cref="Enter"/> and turns off only
/// after every reading for <see cref="TelemetryOptions.HealthHoldTime"/> stayed below <see cref="Leave"/>
/// (hysteresis, so a value hovering around one threshold does not flap).
/// </summary>
/// <param name="Enter">The rule turns on at a reading at or above this value.</param>
/// <param name="Leave">The rule turns off below this value; at most <paramref name="Enter"/>.</param>
public readonly record struct HealthThreshold(double Enter, double Leave);
