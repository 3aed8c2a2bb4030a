namespace MlNetCnn.Tests;

public sealed class LearningRateScheduleTests
{
    private const double Peak = 0.1;

    [Fact]
    public void ConstantStaysAtThePeak()
        => Assert.All(Enumerable.Range(0, 50), s => Assert.Equal(Peak, LearningRateSchedule.Constant().GetLearningRate(Peak, s, 10, 5)));

    [Fact]
    public void StepDecaysEveryNEpochs()
    {
        var schedule = LearningRateSchedule.Step(stepEpochs: 2, gamma: 0.5);
        // 10 steps per epoch: epochs 0-1 at the peak, 2-3 halved, 4 quartered.
        Assert.Equal(Peak, schedule.GetLearningRate(Peak, 19, 10, 6));
        Assert.Equal(Peak * 0.5, schedule.GetLearningRate(Peak, 20, 10, 6), 12);
        Assert.Equal(Peak * 0.25, schedule.GetLearningRate(Peak, 45, 10, 6), 12);
    }

    [Fact]
    public void MultiStepDecaysAtTheMilestones()
    {
        var schedule = LearningRateSchedule.MultiStep([3, 1], gamma: 0.1);
        Assert.Equal(Peak, schedule.GetLearningRate(Peak, 9, 10, 5), 12);
        Assert.Equal(Peak * 0.1, schedule.GetLearningRate(Peak, 10, 10, 5), 12);
        Assert.Equal(Peak * 0.1, schedule.GetLearningRate(Peak, 29, 10, 5), 12);
        Assert.Equal(Peak * 0.01, schedule.GetLearningRate(Peak, 30, 10, 5), 12);
    }

    [Fact]
    public void CosineWithWarmupFollowsItsFormula()
    {
        var schedule = LearningRateSchedule.CosineWithWarmup(warmupEpochs: 1, minimumFraction: 0.1);
        int stepsPerEpoch = 10, epochs = 20;
        long total = stepsPerEpoch * epochs, warmup = 10;
        Assert.Equal(Peak * 0.1, schedule.GetLearningRate(Peak, 0, stepsPerEpoch, epochs), 12);
        Assert.Equal(Peak * (0.1 + 0.9 * 5 / 10.0), schedule.GetLearningRate(Peak, 5, stepsPerEpoch, epochs), 12);
        Assert.Equal(Peak, schedule.GetLearningRate(Peak, warmup, stepsPerEpoch, epochs), 12);
        for (long step = warmup; step < total; step += 17)
        {
            double progress = (double)(step - warmup) / (total - 1 - warmup);
            double expected = Peak * 0.1 + (Peak - Peak * 0.1) * 0.5 * (1 + Math.Cos(Math.PI * progress));
            Assert.Equal(expected, schedule.GetLearningRate(Peak, step, stepsPerEpoch, epochs), 12);
        }
        Assert.Equal(Peak * 0.1, schedule.GetLearningRate(Peak, total - 1, stepsPerEpoch, epochs), 12);
    }

    [Fact]
    public void WarmupIsCappedAtATenthOfTheRun()
    {
        // 2 epochs of 10 steps: a 1-epoch warm-up would be half the run; it is capped at 2 steps.
        var schedule = LearningRateSchedule.CosineWithWarmup(warmupEpochs: 1);
        Assert.Equal(Peak, schedule.GetLearningRate(Peak, 2, 10, 2), 12);
    }

    [Fact]
    public void OneCycleRisesToThePeakThenAnnealsToTheFinalRate()
    {
        var schedule = LearningRateSchedule.OneCycle(warmupFraction: 0.25, initialDivisor: 10, finalDivisor: 100);
        int stepsPerEpoch = 25, epochs = 4; // 100 steps, the peak at step 24
        Assert.Equal(Peak / 10, schedule.GetLearningRate(Peak, 0, stepsPerEpoch, epochs), 12);
        Assert.Equal(Peak, schedule.GetLearningRate(Peak, 24, stepsPerEpoch, epochs), 12);
        double mid = Peak / 10 + (Peak - Peak / 10) * 0.5 * (1 + Math.Cos(Math.PI * 12 / 24.0));
        Assert.Equal(mid, schedule.GetLearningRate(Peak, 12, stepsPerEpoch, epochs), 12);
        Assert.Equal(Peak / 10 / 100, schedule.GetLearningRate(Peak, 99, stepsPerEpoch, epochs), 12);
        var rates = Enumerable.Range(24, 76).Select(s => schedule.GetLearningRate(Peak, s, stepsPerEpoch, epochs)).ToList();
        Assert.Equal(rates.OrderDescending(), rates);
    }

    [Fact]
    public void TriangleRisesLinearlyToThePeakThenFallsToTheEnd()
    {
        var schedule = LearningRateSchedule.Triangle(peakFraction: 0.23, startFraction: 0.2, endFraction: 0.07);
        int stepsPerEpoch = 10, epochs = 10; // 100 steps: the peak at step 23, the last step 99
        Assert.Equal(Peak * 0.2, schedule.GetLearningRate(Peak, 0, stepsPerEpoch, epochs), 12);
        Assert.Equal(Peak * (0.2 + 0.8 * 10 / 23.0), schedule.GetLearningRate(Peak, 10, stepsPerEpoch, epochs), 12);
        Assert.Equal(Peak, schedule.GetLearningRate(Peak, 23, stepsPerEpoch, epochs), 12);
        Assert.Equal(Peak * 0.535, schedule.GetLearningRate(Peak, 61, stepsPerEpoch, epochs), 12); // halfway down: 1 - 0.93 / 2
        Assert.Equal(Peak * 0.07, schedule.GetLearningRate(Peak, 99, stepsPerEpoch, epochs), 12);
        Assert.StartsWith("triangle", schedule.ToString());
    }

    [Fact]
    public void TriangleRejectsFractionsOutsideZeroToOne()
    {
        Assert.Equal("peakFraction", Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Triangle(peakFraction: 1.5)).ParamName);
        Assert.Equal("startFraction", Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Triangle(startFraction: -0.1)).ParamName);
        Assert.Equal("endFraction",
            Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Triangle(endFraction: double.NaN))
            .ParamName);
    }

    [Fact]
    public void InvalidArgumentsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Step(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.Step(1, gamma: 1.5));
        Assert.Throws<ArgumentException>(() => LearningRateSchedule.MultiStep([]));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.OneCycle(warmupFraction: 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => LearningRateSchedule.ReduceOnPlateau(factor: 0));
    }
}
