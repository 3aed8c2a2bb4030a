using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>Lookahead in a training run: a decay of 0 changes nothing, the default changes the trained network.</summary>
// Compares seeded runs bit for bit, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class LookaheadTrainingTests
{
    // 48 images in batches of 16: 3 steps per epoch, so with a sync period of 2 the epochs end between synchronizations.
    private static float[] TrainedState(LookaheadOptions? lookahead)
    {
        var ml = new MLContext(seed: 1);
        var options = new CnnTrainerOptions
        {
            Architecture = CnnArchitecture.ResNet9(4), Epochs = 2, BatchSize = 16, Seed = 3, NumberOfThreads = 1,
            Optimizer = CnnOptimizer.Sgd, LearningRate = 0.05, Lookahead = lookahead,
        };
        using var model = new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(48, 3, 1)));
        // Parameters and batch-norm statistics.
        return model.Network.Module.state_dict().Values.Where(t => t.is_floating_point()).SelectMany(t => t.data<float>().ToArray()).ToArray();
    }

    [Fact]
    public void ADecayOfZeroTrainsExactlyAsWithoutLookahead()
        => Assert.Equal(TrainedState(null), TrainedState(new LookaheadOptions { SyncPeriod = 2, Decay = 0 }));

    [Fact]
    public void AveragingChangesTheTrainedNetwork()
        => Assert.NotEqual(TrainedState(null), TrainedState(new LookaheadOptions { SyncPeriod = 2, Decay = 0.9, DecayPower = 1 }));
}
