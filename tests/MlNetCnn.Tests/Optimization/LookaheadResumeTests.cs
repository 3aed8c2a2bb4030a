using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>Resuming a run with Lookahead: bit-identical to the uninterrupted run, refused under other Lookahead settings.</summary>
// Compares seeded runs bit for bit, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class LookaheadResumeTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    // 48 images in batches of 16: 3 steps per epoch; with a sync period of 2, epoch 2 ends on a synchronization and
    // epochs 1 and 3 between two.
    private static CnnTrainerOptions Options(LookaheadOptions? lookahead) => new()
    {
        Architecture = CnnArchitecture.ResNet9(4), Epochs = 3, BatchSize = 16, Seed = 8, NumberOfThreads = 1,
        Optimizer = CnnOptimizer.Sgd, Nesterov = true, LearningRate = 0.05, ProgressInterval = 1000, Lookahead = lookahead,
    };

    private static LookaheadOptions Lookahead() => new() { SyncPeriod = 2, Decay = 0.9, DecayPower = 1 };

    private static IDataView Data(MLContext ml) => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(48, 3, 1));

    private static float[] State(CnnTransformer model)
        => model.Network.Module.state_dict().Values.Where(t => t.is_floating_point()).SelectMany(t => t.data<float>().ToArray()).ToArray();

    /// <summary>Trains 3 epochs uninterrupted; returns its final state and a copy of its checkpoint after epoch <paramref name="epoch"/>.</summary>
    private (float[] State, string Checkpoint) Uninterrupted(MLContext ml, int epoch)
    {
        var (model, checkpoint) = UninterruptedRun.Train(ml, Options(Lookahead()), Data(ml), _temp, epoch);
        using (model)
            return (State(model), checkpoint);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void AResumedRunEqualsTheUninterruptedOneBitForBit(int epoch)
    {
        var ml = new MLContext(seed: 1);
        var (expected, checkpoint) = Uninterrupted(ml, epoch);

        var resumed = Options(Lookahead());
        resumed.ResumeFromCheckpoint = checkpoint;
        using var model = new CnnTrainer(ml, resumed).Fit(Data(ml));

        Assert.Equal(expected, State(model));
    }

    [Fact]
    public void ACheckpointOfOtherLookaheadSettingsIsNotResumed()
    {
        var ml = new MLContext(seed: 1);
        var (_, checkpoint) = Uninterrupted(ml, 1);

        var other = Options(new LookaheadOptions { SyncPeriod = 3, Decay = 0.9, DecayPower = 1 });
        other.ResumeFromCheckpoint = checkpoint;
        Assert.Contains("lookahead", Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, other).Fit(Data(ml))).Message);

        var without = Options(null);
        without.ResumeFromCheckpoint = checkpoint;
        Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, without).Fit(Data(ml)));
    }
}
