using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// <see cref="CnnTrainerOptions.TimeLimit"/>: the planning arithmetic on a fake clock, and real runs whose schedule
/// completes over the epochs that were planned, however many that turned out to be on this machine.
/// </summary>
public sealed class TimeLimitTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static EpochBudget Budget(double limitSeconds, Func<double> elapsedSeconds, int maximumEpochs = 1000)
        => new(TimeSpan.FromSeconds(limitSeconds), () => TimeSpan.FromSeconds(elapsedSeconds()), maximumEpochs);

    [Fact]
    public void TheFirstPlanCountsTheEpochsThatFitInWhatIsLeft()
    {
        // 10 s spent on reading the data and a fifth of the first epoch; 10 s per epoch; 100 s in all: 0.2 + 9 epochs.
        Assert.Equal(9, Budget(100, () => 10).Plan(0.2, 10));
        // More than fit in the limit is capped by Epochs.
        Assert.Equal(7, Budget(1000, () => 10, maximumEpochs: 7).Plan(0.2, 10));
        // Epochs slower than the whole limit: the epoch under way still ends, and ends the run.
        Assert.Equal(1, Budget(100, () => 10).Plan(0.2, 500));
        Assert.Equal(1, Budget(100, () => 150).Plan(0.2, 10));
    }

    [Fact]
    public void OnlyTheFirstEpochMayLengthenThePlan()
    {
        double elapsed = 10;
        var budget = Budget(100, () => elapsed);

        // The first steps suggested 9 epochs; the first epoch took 5 s: 1 + 85 / 5 = 18.
        elapsed = 15;
        Assert.Equal(18, budget.PlanAfterEpoch(1, 5, currentPlan: 9));
        // Faster epochs later do not lengthen it (mean of 5 and 1 s: 3 s; 2 + 84 / 3 = 30).
        elapsed = 16;
        Assert.Equal(18, budget.PlanAfterEpoch(2, 1, currentPlan: 18));
        // Slower ones shorten it (mean of 5, 1 and 30 s: 12 s; 3 + 54 / 12 = 7.5).
        elapsed = 46;
        Assert.Equal(7, budget.PlanAfterEpoch(3, 30, currentPlan: 18));
        // Past the limit the run ends with the epoch just completed.
        elapsed = 120;
        Assert.Equal(4, budget.PlanAfterEpoch(4, 12, currentPlan: 7));
    }

    // 256 images in batches of 16: 16 steps per epoch, so the first plan comes from the first steps' speed.
    private static CnnTrainerOptions Options(List<TrainingProgress> reports) => new()
    {
        Architecture = CnnArchitecture.ResNet9(4), Epochs = 100_000, TimeLimit = TimeSpan.FromSeconds(3), BatchSize = 16, Seed = 3,
        NumberOfThreads = 1, Optimizer = CnnOptimizer.Sgd, Nesterov = true, LearningRate = 0.05,
        LearningRateSchedule = LearningRateSchedule.Triangle(0.23, 0.2, 0.07), Lookahead = new LookaheadOptions(),
        Progress = new SynchronousProgress<TrainingProgress>(reports.Add),
    };

    private static IDataView Data(MLContext ml) => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(256, 3, 5));

    [Fact]
    public void ARunEndsWithItsScheduleCompletedOverThePlannedEpochs()
    {
        var ml = new MLContext(seed: 1);
        var reports = new List<TrainingProgress>();

        using var model = new CnnTrainer(ml, Options(reports)).Fit(Data(ml));

        int trained = model.TrainingHistory.Count;
        Assert.InRange(trained, 1, 99_999);
        // The triangle ends at 0.07 of the peak on the last step of the planned run, not early in a 100,000-epoch one.
        Assert.Equal(0.07 * 0.05, model.TrainingHistory[^1].LearningRate, 12);
        var last = reports.Last(r => r.IsEpochEnd);
        Assert.Equal((trained, trained), (last.Epoch, last.TotalEpochs));
        // From the first epoch's end on, reports count the planned epochs (the first batches come before the first plan).
        Assert.All(reports.Where(r => r.IsEpochEnd), r => Assert.True(r.TotalEpochs < 100_000, $"report {r} still counts the 100,000 epochs"));
    }

    [Fact]
    public void AResumedRunKeepsThePlanOfItsCheckpoint()
    {
        var ml = new MLContext(seed: 1);
        var options = Options([]);
        options.CheckpointDirectory = _temp.Combine("checkpoints");
        int trained;
        using (var model = new CnnTrainer(ml, options).Fit(Data(ml)))
            trained = model.TrainingHistory.Count;

        var resumed = Options([]);
        resumed.ResumeFromCheckpoint = Path.Combine(options.CheckpointDirectory, TrainingLoop.LastCheckpointName);
        using var again = new CnnTrainer(ml, resumed).Fit(Data(ml));

        // The checkpoint holds the plan: the run was complete, so no epoch is added, though its own 3 s would allow more.
        Assert.Equal(trained, again.TrainingHistory.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void ALimitThatIsNotPositiveIsRefused(int seconds)
    {
        var options = Options([]);
        options.TimeLimit = TimeSpan.FromSeconds(seconds);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(new MLContext(), options));
        Assert.Contains("CnnTrainerOptions.TimeLimit must be positive", error.Message);
    }
}
