using Microsoft.ML;
using MlNetCnn.Persistence;

namespace MlNetCnn.Tests;

/// <summary>What a killed run leaves in its checkpoint folder, and how the next run in that folder repairs it.</summary>
// Relies on a seeded run whose loss falls every epoch, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class CheckpointRecoveryTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CnnTrainerOptions Options(string directory, int epochs = 3) => new()
    {
        Epochs = epochs, BatchSize = 16, Seed = 6, NumberOfThreads = 1, CheckpointDirectory = directory,
    };

    private static IDataView Data(MLContext ml) => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(48, 3, 1));

    [Fact]
    public void TemporaryCheckpointFilesOfAKilledWriteAreRemovedWhenTheNextRunStarts()
    {
        string directory = _temp.Combine("run");
        Directory.CreateDirectory(directory);
        string stale = Path.Combine(directory, $".{TrainingLoop.LastCheckpointName}.{Guid.NewGuid():N}.tmp");
        string staleBest = Path.Combine(directory, $".{TrainingLoop.BestCheckpointName}.{Guid.NewGuid():N}.tmp");
        string inUse = Path.Combine(directory, $".{TrainingLoop.LastCheckpointName}.{Guid.NewGuid():N}.tmp");
        string foreign = Path.Combine(directory, ".notes.txt.tmp");
        foreach (var file in new[] { stale, staleBest, inUse, foreign })
            File.WriteAllBytes(file, new byte[1000]);
        var ml = new MLContext(seed: 1);

        // A writer that is still alive holds its temporary file locked; that one stays.
        using (new FileStream(inUse, FileMode.Open, FileAccess.Write, FileShare.None))
        using (new CnnTrainer(ml, Options(directory, epochs: 1)).Fit(Data(ml)))
        {
        }

        Assert.False(File.Exists(stale));
        Assert.False(File.Exists(staleBest));
        Assert.True(File.Exists(inUse));
        Assert.True(File.Exists(foreign));
    }

    [Fact]
    public void ResumingRewritesABestCheckpointLeftStaleByAKillBetweenTheTwoWrites()
    {
        string directory = _temp.Combine("run");
        string last = Path.Combine(directory, TrainingLoop.LastCheckpointName), best = Path.Combine(directory, TrainingLoop.BestCheckpointName);
        string bestAfterEpoch2 = _temp.Combine("best-after-epoch-2");
        var ml = new MLContext(seed: 1);
        var options = Options(directory);
        options.ProgressInterval = 1000;
        options.Progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            // Reported after the epoch's checkpoints are written.
            if (p.IsEpochEnd && p.Epoch == 2)
                File.Copy(best, bestAfterEpoch2);
        });
        using (new CnnTrainer(ml, options).Fit(Data(ml)))
        {
        }
        var lastCheckpoint = TrainingCheckpoint.Load(last);
        Assert.Equal(3, lastCheckpoint.State.BestEpoch); // the loss fell every epoch: epoch 3 was written as last and best
        // As if the process died after writing checkpoint-last of epoch 3 and before checkpoint-best.
        File.Copy(bestAfterEpoch2, best, overwrite: true);
        Assert.Equal(2, TrainingCheckpoint.Load(best).State.CompletedEpochs);

        var resume = Options(directory);
        resume.ResumeFromCheckpoint = last;
        using (new CnnTrainer(ml, resume).Fit(Data(ml)))
        {
        }

        Assert.Equal(3, TrainingCheckpoint.Load(best).State.CompletedEpochs);
        Assert.Equal(File.ReadAllBytes(last), File.ReadAllBytes(best));
    }

    [Fact]
    public void ABestCheckpointOfALaterEpochOfTheSameRunIsKept()
    {
        string directory = _temp.Combine("run");
        string last = Path.Combine(directory, TrainingLoop.LastCheckpointName), best = Path.Combine(directory, TrainingLoop.BestCheckpointName);
        string lastAfterEpoch2 = _temp.Combine("last-after-epoch-2");
        var ml = new MLContext(seed: 1);
        var options = Options(directory);
        options.ProgressInterval = 1000;
        options.Progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p.IsEpochEnd && p.Epoch == 2)
                File.Copy(last, lastAfterEpoch2);
        });
        using (new CnnTrainer(ml, options).Fit(Data(ml)))
        {
        }
        byte[] bestOfEpoch3 = File.ReadAllBytes(best);

        // Resuming from an earlier last checkpoint: the best of epoch 3 is the future of this very run (it reaches it again).
        var earlier = TrainingCheckpoint.Load(lastAfterEpoch2);

        Assert.Null(earlier.ReconcileBest(best));
        Assert.Equal(bestOfEpoch3, File.ReadAllBytes(best));
    }
}
