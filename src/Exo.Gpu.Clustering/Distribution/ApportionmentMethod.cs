namespace Exo.Gpu.Clustering.Distribution;

/// <summary>
/// How whole items are apportioned over weights. No method has every good property at once (Balinski and Young):
/// pick the trade that suits the work.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>method</term><description>trade</description></listheader>
/// <item><term><see cref="Hamilton"/></term><description>Satisfies the quota rule (every count is the floor or the
/// ceiling of its exact share), but is not house-monotone: adding an item can take one away from a device (the Alabama
/// paradox).</description></item>
/// <item><term><see cref="Webster"/></term><description>House-monotone and the least biased between large and small
/// weights, but can break the quota rule by one item in rare cases.</description></item>
/// <item><term><see cref="DHondt"/></term><description>House-monotone, never gives a device less than the floor of its
/// share, but favours large weights and can exceed the ceiling by many items.</description></item>
/// </list>
/// </remarks>
public enum ApportionmentMethod
{
    /// <summary>
    /// Largest remainder (Hamilton, Hare): each device gets the floor of its share, then the items left over go one each
    /// to the devices with the largest remainders. Ties go to the lower device index. The default.
    /// </summary>
    Hamilton = 0,

    /// <summary>
    /// Sainte-Laguë / Webster, the divisor method with divisors 1, 3, 5, …: items go one at a time to the device with the
    /// highest <c>weight / (count + 0.5)</c>. Ties go to the lower device index.
    /// </summary>
    Webster = 1,

    /// <summary>
    /// D'Hondt / Jefferson, the divisor method with divisors 1, 2, 3, …: items go one at a time to the device with the
    /// highest <c>weight / (count + 1)</c>. Ties go to the lower device index.
    /// </summary>
    DHondt = 2,
}
