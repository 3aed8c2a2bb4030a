namespace MlNetCnn;

/// <summary>The column names MlNetCnn uses unless told otherwise; they match ML.NET's conventions.</summary>
public static class DefaultColumnNames
{
    /// <summary>"Label": the class, a key type.</summary>
    public const string Label = "Label";

    /// <summary>"Features": the image as planar CHW floats.</summary>
    public const string Features = "Features";

    /// <summary>"Score": per-class probabilities.</summary>
    public const string Score = "Score";

    /// <summary>"PredictedLabel": the most probable class, a key type.</summary>
    public const string PredictedLabel = "PredictedLabel";
}
