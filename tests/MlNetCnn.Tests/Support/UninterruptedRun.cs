using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>The reference side of a resume test: a run trained to the end that leaves a copy of its checkpoint after one epoch.</summary>
internal static class UninterruptedRun
{
    /// <summary>Trains with <paramref name="options"/> (checkpoints under <paramref name="temp"/>); returns the trained
    /// model and a copy of its last checkpoint after <paramref name="epoch"/>.</summary>
    public static (CnnTransformer Model, string Checkpoint) Train(MLContext ml, CnnTrainerOptions options, IDataView data, TempFolder temp, int epoch)
    {
        options.CheckpointDirectory = temp.Combine("uninterrupted");
        string copy = temp.Combine($"after-epoch-{epoch}.cnnckpt");
        options.Progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            // Reported after the epoch's checkpoints are written.
            if (p.IsEpochEnd && p.Epoch == epoch)
                File.Copy(Path.Combine(options.CheckpointDirectory, TrainingLoop.LastCheckpointName), copy);
        });
        return (new CnnTrainer(ml, options).Fit(data), copy);
    }
}
