namespace MlNetCnn;

/// <summary>Stops training when a metric stops improving, and by default restores the weights of the best epoch.</summary>
public sealed class EarlyStoppingOptions
{
    /// <summary>The metric watched. Default: validation loss.</summary>
    public TrainingMetric Metric { get; set; } = TrainingMetric.ValidationLoss;

    /// <summary>Epochs without improvement tolerated before stopping. Default 5.</summary>
    public int Patience { get; set; } = 5;

    /// <summary>The smallest change that counts as an improvement (absolute). Default 0.</summary>
    public double MinDelta { get; set; }

    /// <summary>Return the weights of the best epoch rather than the last. Default true.</summary>
    public bool RestoreBestWeights { get; set; } = true;
}
