using MlNetCnn.Persistence;

namespace MlNetCnn;

/// <summary>
/// A progress report of <see cref="CnnTrainer"/>: sent every <see cref="CnnTrainerOptions.ProgressInterval"/> batches
/// and at the end of every epoch (then <see cref="Summary"/> is set).
/// </summary>
/// <param name="Epoch">The current epoch, from 1.</param>
/// <param name="TotalEpochs">The epochs planned.</param>
/// <param name="Batch">Batches done in this epoch.</param>
/// <param name="BatchesPerEpoch">Batches per epoch.</param>
/// <param name="Loss">Mean training loss over this epoch's batches so far.</param>
/// <param name="Accuracy">Training accuracy over this epoch's batches so far.</param>
/// <param name="LearningRate">The current learning rate.</param>
/// <param name="ImagesPerSecond">Training throughput in this epoch so far.</param>
/// <param name="EstimatedTimeRemaining">Estimated time until the planned epochs end.</param>
/// <param name="Summary">The finished epoch's figures, in the report sent at the end of an epoch; otherwise null.</param>
public sealed record TrainingProgress(
    int Epoch, int TotalEpochs, int Batch, int BatchesPerEpoch, double Loss, double Accuracy, double LearningRate,
    double ImagesPerSecond, TimeSpan EstimatedTimeRemaining, EpochSummary? Summary)
{
    /// <summary>True for the report sent at the end of an epoch.</summary>
    public bool IsEpochEnd => Summary != null;
}

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

    internal static void WriteAll(BinaryWriter writer, IReadOnlyList<EpochSummary> epochs)
    {
        writer.Write(epochs.Count);
        foreach (var epoch in epochs)
        {
            writer.Write(epoch.Epoch);
            writer.Write(epoch.TrainLoss);
            writer.Write(epoch.TrainAccuracy);
            writer.Write(epoch.ValidationLoss ?? double.NaN);
            writer.Write(epoch.ValidationAccuracy ?? double.NaN);
            writer.Write(epoch.LearningRate);
            writer.Write(epoch.Duration.Ticks);
            writer.Write(epoch.ImagesPerSecond);
        }
    }

    internal static List<EpochSummary> ReadAll(BinaryReader reader)
    {
        // An epoch takes 60 bytes: checked against the bytes left before the list exists.
        int count = reader.ReadCount("training history length", 60, 1_000_000);
        var epochs = new List<EpochSummary>(count);
        for (int i = 0; i < count; i++)
        {
            int epoch = reader.ReadInt32();
            double trainLoss = reader.ReadDouble(), trainAccuracy = reader.ReadDouble();
            double validationLoss = reader.ReadDouble(), validationAccuracy = reader.ReadDouble();
            double learningRate = reader.ReadDouble();
            var duration = TimeSpan.FromTicks(reader.ReadInt64());
            double imagesPerSecond = reader.ReadDouble();
            epochs.Add(new EpochSummary(epoch, trainLoss, trainAccuracy, double.IsNaN(validationLoss) ? null : validationLoss,
                double.IsNaN(validationAccuracy) ? null : validationAccuracy, learningRate, duration, imagesPerSecond));
        }
        return epochs;
    }
}
