namespace MlNetCnn;

/// <summary>
/// What <see cref="PretrainedWeights.LoadInto"/> did: which of the network's weights came from the file, which of the
/// file's weights were not used and why, and which of the network's weights the file lacks (they keep their initialization).
/// </summary>
public sealed class PretrainedWeightsReport
{
    internal PretrainedWeightsReport(string source, IReadOnlyList<string> loaded, IReadOnlyDictionary<string, string> skipped,
        IReadOnlyList<string> missing, string? replacedHead)
    {
        Source = source;
        Loaded = loaded;
        Skipped = skipped;
        Missing = missing;
        ReplacedHead = replacedHead;
    }

    /// <summary>The file (or package) the weights came from.</summary>
    public string Source { get; }

    /// <summary>The network's weights and buffers (state_dict keys) copied from the file.</summary>
    public IReadOnlyList<string> Loaded { get; }

    /// <summary>The file's weights that were not copied, each with the reason (no such layer in the network, or a
    /// replaced classifier head: a weight of another shape anywhere else is an error, never skipped).</summary>
    public IReadOnlyDictionary<string, string> Skipped { get; }

    /// <summary>The network's weights and buffers the file does not have; they keep the architecture's initialization.</summary>
    public IReadOnlyList<string> Missing { get; }

    /// <summary>The classifier head (e.g. <c>fc</c>) that starts fresh because the file's class count differs or it has
    /// no head; null when the file's head was loaded.</summary>
    public string? ReplacedHead { get; }

    /// <summary>A one-line summary followed by the skipped and missing keys.</summary>
    public override string ToString()
    {
        var text = new System.Text.StringBuilder(
            $"{Source}: loaded {Loaded.Count} tensors, skipped {Skipped.Count}, missing "
            + $"{Missing.Count}{(ReplacedHead is null ? "" : $"; classifier head '{ReplacedHead}' starts fresh")}.");
        foreach (var (key, reason) in Skipped)
            text.Append(Environment.NewLine).Append("  skipped ").Append(key).Append(": ").Append(reason);
        foreach (string key in Missing)
            text.Append(Environment.NewLine).Append("  missing ").Append(key);
        return text.ToString();
    }
}
