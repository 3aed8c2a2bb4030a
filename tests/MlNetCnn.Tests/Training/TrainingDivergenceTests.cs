using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>Fit never returns (or checkpoints) a network whose weights or outputs are no longer numbers, nor one whose loss exploded.</summary>
public sealed class TrainingDivergenceTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private CnnTrainerOptions Options(double learningRate, int epochs, int batchSize) => new()
    {
        Epochs = epochs, BatchSize = batchSize, Seed = 9, NumberOfThreads = 1, LearningRate = learningRate,
        LearningRateSchedule = LearningRateSchedule.Constant(), CheckpointDirectory = _temp.Path,
    };

    [Fact]
    public void ASingleStepThatRuinsTheWeightsFailsBeforeAnyCheckpoint()
    {
        // One step at 1e30 is the last step of the run, so no later loss could reveal it.
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(16, 2, 1));
        var error = Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, Options(1e30, epochs: 1, batchSize: 16)).Fit(data));
        Assert.Contains("Training diverged", error.Message);
        Assert.Contains("epoch 1", error.Message);
        Assert.Contains("no checkpoint", error.Message);
        Assert.Contains("Lower LearningRate", error.Message);
        Assert.Empty(Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public void AnExplodingFiniteLossIsReportedWithTheSameRemedies()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(96, 3, 1));
        var error = Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, Options(1e6, epochs: 3, batchSize: 16)).Fit(data));
        Assert.Contains("Training diverged", error.Message);
        Assert.Contains("Lower LearningRate", error.Message);
        Assert.Contains("GradientClipNorm", error.Message);
    }

    [Fact]
    public void AnOrdinaryRunPassesTheChecks()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(96, 3, 1));
        using var model = new CnnTrainer(ml, Options(3e-3, epochs: 2, batchSize: 16)).Fit(data);
        Assert.Equal(2, model.TrainingHistory.Count);
        Assert.True(File.Exists(Path.Combine(_temp.Path, "checkpoint-last.cnnckpt")));
    }
}
