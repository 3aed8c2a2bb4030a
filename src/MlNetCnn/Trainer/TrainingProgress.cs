using MlNetCnn.Persistence;

namespace MlNetCnn;

/// <summary>
/// A progress report of <see cref="CnnTrainer"/>: sent within each epoch as <see cref="CnnTrainerOptions.ProgressInterval"/>
/// says and at the end of every epoch (then <see cref="Summary"/> is set).
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

    /// <summary>
    /// One readable line: <c>epoch 3/10, batch 120/469: loss 0.4321, accuracy 87.50%, 1,234 images/s, lr 2.5e-3, ETA 0:42</c>,
    /// or at the end of an epoch <c>epoch 3/10: </c> followed by the <see cref="EpochSummary"/>.
    /// </summary>
    public override string ToString()
        => Summary is { } summary
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"epoch {Epoch}/{TotalEpochs}: {TrainingProgressText.Epoch(summary)}")
            : string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"epoch {Epoch}/{TotalEpochs}, batch {Batch}/{BatchesPerEpoch}: {TrainingProgressText.Running(this)}");
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
    /// <summary>
    /// One readable line: <c>epoch 3: loss 0.4321, accuracy 87.50%, validation loss 0.5012, validation accuracy 85.10%,
    /// lr 2.5e-3, 12.3 s, 1,234 images/s</c> (the validation figures only when validation data was scored).
    /// </summary>
    public override string ToString()
        => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"epoch {Epoch}: {TrainingProgressText.Epoch(this)}");

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
