namespace MlNetCnn;

/// <summary>Reads a <see cref="TrainingMetric"/> from an epoch and compares values in the metric's direction.</summary>
internal static class TrainingMetrics
{
    public static bool HigherIsBetter(TrainingMetric metric) => metric is TrainingMetric.ValidationAccuracy or TrainingMetric.TrainAccuracy;

    public static bool NeedsValidation(TrainingMetric metric) => metric is TrainingMetric.ValidationAccuracy or TrainingMetric.ValidationLoss;

    public static double Value(EpochSummary epoch, TrainingMetric metric) => metric switch
    {
        TrainingMetric.ValidationLoss => epoch.ValidationLoss ?? double.NaN,
        TrainingMetric.ValidationAccuracy => epoch.ValidationAccuracy ?? double.NaN,
        TrainingMetric.TrainLoss => epoch.TrainLoss,
        _ => epoch.TrainAccuracy,
    };

    /// <summary>True when <paramref name="value"/> beats <paramref name="best"/> by more than
    /// <paramref name="minDelta"/> (any value beats NaN).</summary>
    public static bool Improves(TrainingMetric metric, double value, double best, double minDelta)
        => double.IsNaN(best) || (HigherIsBetter(metric) ? value > best + minDelta : value < best - minDelta);
}
