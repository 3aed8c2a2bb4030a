using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// Bit-for-bit reproducibility. libtorch's random generator is process-wide: a test creating or training another network
/// at the same moment draws from it between this run's seeding and its weight initialization, so these tests (and every
/// other class in this collection) run alone.
/// </summary>
[Collection(nameof(SeededRunTests))]
public sealed class SeededRunTests(TrainedModelFixture fixture) : IClassFixture<TrainedModelFixture>
{
    [Fact]
    public void SameSeedGivesTheSameModel()
    {
        float[] Scores()
        {
            var ml = new MLContext(seed: 2);
            var data = TrainerBehaviourTests.Prepared(ml, fixture.Train, out _);
            using var model = new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 42, NumberOfThreads = 1 }).Fit(data);
            return ml.Data.CreateEnumerable<TrainerBehaviourTests.ScoreOnly>(model.Transform(data),
                reuseRowObject: false).SelectMany(r => r.Score).ToArray();
        }

        Assert.Equal(Scores(), Scores());
    }
}

[CollectionDefinition(nameof(SeededRunTests), DisableParallelization = true)]
public sealed class SeededRunCollection;
