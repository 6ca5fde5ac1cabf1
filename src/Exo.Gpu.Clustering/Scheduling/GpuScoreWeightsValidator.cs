namespace Exo.Gpu.Clustering.Scheduling;

/// <summary>Validates <see cref="GpuScoreWeights"/>: each weight 0 or from 1e-300 to 1e300, not all 0.</summary>
internal static class GpuScoreWeightsValidator
{
    /// <summary>Adds every invalid weight to <paramref name="errors"/>.</summary>
    /// <param name="options">The weights.</param>
    /// <param name="path">Their property path: empty, or ending with a dot (<c>Selector.Weights.</c>).</param>
    /// <param name="errors">Where the errors go, one sentence each.</param>
    public static void Validate(GpuScoreWeights options, string path, List<string> errors)
    {
        var valid = Check(options.FreeMemory, nameof(GpuScoreWeights.FreeMemory), path, errors)
            & Check(options.Utilization, nameof(GpuScoreWeights.Utilization), path, errors)
            & Check(options.Temperature, nameof(GpuScoreWeights.Temperature), path, errors)
            & Check(options.PowerHeadroom, nameof(GpuScoreWeights.PowerHeadroom), path, errors);
        if (valid && options.FreeMemory + options.Utilization + options.Temperature + options.PowerHeadroom <= 0)
        {
            errors.Add(path.Length == 0
                ? "At least one weight must be above 0; they are all 0."
                : $"{path.TrimEnd('.')} must have at least one weight above 0; they are all 0.");
        }
    }

    private static bool Check(double weight, string name, string path, List<string> errors)
    {
        if (!double.IsFinite(weight) || weight < GpuScoreWeights.MinWeight)
        {
            OptionsValidation.Add(errors, path, name, "must be a finite number of 0 or more", weight);
            return false;
        }

        // Only the ratios matter, but sums and reciprocals of the weights must stay finite (no NaN scores).
        if (weight != GpuScoreWeights.MinWeight && weight is < GpuScoreWeights.MinPositiveWeight or > GpuScoreWeights.MaxWeight)
        {
            OptionsValidation.Add(errors, path, name, "must be 0, or from 1E-300 to 1E+300", weight);
            return false;
        }

        return true;
    }
}
