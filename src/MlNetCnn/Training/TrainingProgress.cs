namespace MlNetCnn;

/// <summary>A progress report of <see cref="CnnTrainer"/>, sent after every epoch.</summary>
/// <param name="Epoch">The epoch just finished, from 1.</param>
/// <param name="TotalEpochs">The epochs planned.</param>
/// <param name="Summary">The finished epoch's figures.</param>
/// <param name="EstimatedTimeRemaining">Estimated time until training ends, from the mean epoch time so far.</param>
public sealed record TrainingProgress(int Epoch, int TotalEpochs, EpochSummary Summary, TimeSpan EstimatedTimeRemaining);

/// <summary>What one epoch of training measured.</summary>
/// <param name="Epoch">The epoch, from 1.</param>
/// <param name="TrainLoss">Mean cross-entropy over the epoch's training batches.</param>
/// <param name="TrainAccuracy">Fraction of training images classified right during the epoch (weights still changing).</param>
/// <param name="ValidationLoss">Mean cross-entropy on the validation data at the end of the epoch, if any.</param>
/// <param name="ValidationAccuracy">Accuracy on the validation data at the end of the epoch, if any.</param>
/// <param name="LearningRate">Learning rate at the end of the epoch.</param>
/// <param name="Duration">Wall time of the epoch, validation included.</param>
/// <param name="ImagesPerSecond">Training images per second (validation excluded).</param>
public sealed record EpochSummary(
    int Epoch, double TrainLoss, double TrainAccuracy, double? ValidationLoss, double? ValidationAccuracy,
    double LearningRate, TimeSpan Duration, double ImagesPerSecond)
{
    /// <inheritdoc />
    public override string ToString()
    {
        string validation = ValidationLoss is { } loss ? $", validation loss {loss:F4}, validation accuracy {ValidationAccuracy:P2}" : "";
        return $"epoch {Epoch}: train loss {TrainLoss:F4}, train accuracy {TrainAccuracy:P2}{validation}, lr {LearningRate:0.###e+0}, " +
               $"{Duration.TotalSeconds:F1} s, {ImagesPerSecond:F0} images/s";
    }
}
