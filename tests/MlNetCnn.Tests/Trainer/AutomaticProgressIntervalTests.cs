using Microsoft.ML;

namespace MlNetCnn.Tests;

public sealed class AutomaticProgressIntervalTests(TrainedModelFixture fixture) : IClassFixture<TrainedModelFixture>
{
    private List<TrainingProgress> Train(int progressInterval, TimeSpan handlerDelay)
    {
        var reports = new List<TrainingProgress>();
        var options = new CnnTrainerOptions
        {
            Architecture = CnnArchitecture.Mlp(), Epochs = 2, BatchSize = 30, Seed = 1, ProgressInterval = progressInterval,
            Progress = new SynchronousProgress<TrainingProgress>(p =>
            {
                reports.Add(p);
                if (!p.IsEpochEnd)
                    Thread.Sleep(handlerDelay);
            }),
        };
        // 90 training images in batches of 30: 3 batches per epoch.
        using var model = PipelineTests.GrayscalePipeline(new MLContext(seed: 1), options).Fit(fixture.Train);
        return reports;
    }

    [Fact]
    public void ByDefaultTheFirstBatchIsReportedAndThenWhenHalfASecondHasPassed()
    {
        Assert.Equal(0, new CnnTrainerOptions().ProgressInterval);

        // A report handler that takes 0.6 s makes every following batch due: batches 1 and 2 of 3 (the last one is the epoch's end).
        var slow = Train(0, TimeSpan.FromMilliseconds(600));
        Assert.Equal([(1, 1), (1, 2), (2, 1), (2, 2)], slow.Where(p => !p.IsEpochEnd).Select(p => (p.Epoch, p.Batch)));
        Assert.Equal([1, 2], slow.Where(p => p.IsEpochEnd).Select(p => p.Epoch));
    }

    [Fact]
    public void AnIntervalReportsEveryNBatchesWhateverTheTime()
    {
        var everySecond = Train(2, TimeSpan.FromMilliseconds(600));
        Assert.Equal([(1, 2), (2, 2)], everySecond.Where(p => !p.IsEpochEnd).Select(p => (p.Epoch, p.Batch)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(new MLContext(), new CnnTrainerOptions { ProgressInterval = -1 }));
    }
}
