using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// CnnTrainerOptions are read when Fit runs, so a value changed after the trainer was created is checked again then,
/// with an error naming the option, before any data is read or any checkpoint written.
/// </summary>
public sealed class OptionsReadAtFitTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static IDataView Data(MLContext ml) => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(32, 2, 1));

    private static Exception FitAfterChange(Action<CnnTrainerOptions> change)
    {
        var ml = new MLContext(seed: 1);
        var options = new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 9, NumberOfThreads = 1 };
        var trainer = new CnnTrainer(ml, options);
        change(options);
        return Assert.ThrowsAny<ArgumentException>(() => trainer.Fit(Data(ml)));
    }

    [Fact]
    public void ZeroEpochsSetAfterConstructionFailsAtFit()
        => Assert.Contains("Epochs", FitAfterChange(o => o.Epochs = 0).Message);

    [Fact]
    public void ZeroBatchSizeSetAfterConstructionFailsAtFit()
        => Assert.Contains("BatchSize", FitAfterChange(o => o.BatchSize = 0).Message);

    [Fact]
    public void AValidationFractionAboveOneSetAfterConstructionFailsAtFit()
        => Assert.Contains("ValidationFraction", FitAfterChange(o => o.ValidationFraction = 1.5).Message);

    [Fact]
    public void TooManyThreadsFailAtFit()
        => Assert.Contains("NumberOfThreads", FitAfterChange(o => o.NumberOfThreads = 10_000).Message);

    [Fact]
    public void AHugeScoringBatchSizeFailsAtFit()
        => Assert.Contains("ScoringBatchSize", FitAfterChange(o => o.ScoringBatchSize = 3_000_000).Message);

    [Fact]
    public void AZeroImageHeightIsRejected()
    {
        var ml = new MLContext(seed: 1);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml, new CnnTrainerOptions { ImageHeight = 0 }));
        Assert.Contains("ImageHeight", error.Message);
        Assert.Contains("ImageWidth", FitAfterChange(o => o.ImageWidth = 0).Message);
    }

    [Fact]
    public void AnEmptyCheckpointDirectoryIsRejected()
    {
        var error = FitAfterChange(o => o.CheckpointDirectory = "");
        Assert.Contains("CheckpointDirectory", error.Message);
        Assert.Contains("empty", error.Message);
    }

    [Fact]
    public void ACheckpointDirectoryThatIsAFileFailsBeforeTraining()
    {
        string file = _temp.Combine("not-a-folder");
        File.WriteAllText(file, "x");
        var progress = new List<TrainingProgress>();
        var error = FitAfterChange(o =>
        {
            o.CheckpointDirectory = file;
            o.Progress = new SynchronousProgress(progress.Add);
        });
        Assert.Contains("is a file", error.Message);
        Assert.Contains(file, error.Message);
        Assert.Empty(progress);

        // A folder below a file cannot be created either: also before training.
        var nested = FitAfterChange(o => o.CheckpointDirectory = Path.Combine(file, "checkpoints"));
        Assert.Contains("cannot be created", nested.Message);
    }

    [Fact]
    public void ProgressSetAfterConstructionIsUsed()
    {
        var ml = new MLContext(seed: 1);
        var options = new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 9, NumberOfThreads = 1 };
        var trainer = new CnnTrainer(ml, options);
        var progress = new List<TrainingProgress>();
        options.Progress = new SynchronousProgress(progress.Add);
        using var model = trainer.Fit(Data(ml));
        Assert.NotEmpty(progress);
    }

    private sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
