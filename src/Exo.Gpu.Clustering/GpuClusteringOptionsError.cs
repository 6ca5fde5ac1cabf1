namespace Exo.Gpu.Clustering;

/// <summary>
/// One invalid value of <see cref="GpuClusteringOptions"/> (see <see cref="GpuClusteringOptions.Validate"/>): the
/// property path of the value and what is wrong with it. A host that binds the options from configuration writes the
/// path as its configuration key (<c>Telemetry.HistoryCapacity</c> is <c>GpuClustering:Telemetry:HistoryCapacity</c>).
/// </summary>
public sealed class GpuClusteringOptionsError
{
    internal GpuClusteringOptionsError(string path, string problem)
    {
        Path = path;
        Problem = problem;
    }

    /// <summary>The property path of the invalid value, dot-separated from the options' root (<c>Telemetry.HistoryCapacity</c>, <c>SimulatedOptions.Faults</c>, <c>DrainTimeout</c>).</summary>
    public string Path { get; }

    /// <summary>What is wrong, as the rest of the sentence after the path (<c>must be from 1 to 1048576; it is 0.</c>).</summary>
    public string Problem { get; }

    /// <summary>The whole sentence: <c>{Path} {Problem}</c>.</summary>
    /// <returns>The sentence.</returns>
    public override string ToString() => Path + " " + Problem;

    /// <summary>Splits a validator's sentence, which always starts with the path of its value.</summary>
    /// <param name="sentence">The sentence.</param>
    /// <returns>The error.</returns>
    internal static GpuClusteringOptionsError FromSentence(string sentence)
    {
        var space = sentence.IndexOf(' ', StringComparison.Ordinal);
        return space <= 0 ? new GpuClusteringOptionsError(string.Empty, sentence) : new GpuClusteringOptionsError(sentence[..space], sentence[(space + 1)..]);
    }
}
