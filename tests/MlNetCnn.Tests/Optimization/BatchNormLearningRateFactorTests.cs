using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// CnnTrainerOptions.BatchNormLearningRateFactor: batch-norm parameters step that many times further, with their
/// weight decay divided by it (so decay per step is unchanged); every other parameter steps as before.
/// </summary>
// Compares seeded runs value for value, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class BatchNormLearningRateFactorTests
{
    private const double LearningRate = 0.01;

    // One plain SGD step (no momentum, constant rate) over the whole data, from the seed's initial weights.
    private static Dictionary<string, float[]> Weights(double learningRate, double factor, double weightDecay)
    {
        var ml = new MLContext(seed: 1);
        var options = new CnnTrainerOptions
        {
            Architecture = CnnArchitecture.ResNet9(4), Epochs = 1, BatchSize = 64, Seed = 11, NumberOfThreads = 1,
            Optimizer = CnnOptimizer.Sgd, Momentum = 0, LearningRate = learningRate, LearningRateSchedule = LearningRateSchedule.Constant(),
            WeightDecay = weightDecay, BatchNormLearningRateFactor = factor,
        };
        using var model = new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(64, 2, 3)));
        return model.Network.Module.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
    }

    private static Dictionary<string, float[]> Changes(Dictionary<string, float[]> after, Dictionary<string, float[]> before)
        => after.ToDictionary(p => p.Key, p => p.Value.Zip(before[p.Key], (a, b) => a - b).ToArray());

    // ResNet-9's conv → norm → relu blocks are indexed sequences: index 1 is the batch norm.
    private static bool IsNorm(string name) => name.EndsWith(".1.weight", StringComparison.Ordinal)
        || name.EndsWith(".1.bias", StringComparison.Ordinal);

    [Fact]
    public void BatchNormParametersStepFurtherByTheFactorWithTheSameDecayPerStep()
    {
        var initial = Weights(1e-30, 1, 0); // the same seed with a step too small to move anything
        var plain = Changes(Weights(LearningRate, 1, 0), initial);
        var scaled = Changes(Weights(LearningRate, 8, 0), initial);
        Assert.Contains(plain.Keys, IsNorm);
        foreach (var (name, change) in plain)
        {
            Assert.Contains(change, c => c != 0);
            for (int i = 0; i < change.Length; i++)
                Assert.Equal(change[i] * (IsNorm(name) ? 8 : 1), scaled[name][i], 1e-5f);
        }

        // Weight decay adds −rate × decay × weight to every step, whatever the factor.
        var decayed = Changes(Weights(LearningRate, 8, 0.5), initial);
        foreach (var (name, change) in scaled)
        {
            for (int i = 0; i < change.Length; i++)
                Assert.Equal(-LearningRate * 0.5 * initial[name][i], decayed[name][i] - change[i], 1e-5);
        }
    }

    [Fact]
    public void ANonPositiveFactorIsRefused()
    {
        var ml = new MLContext(seed: 1);
        var options = new CnnTrainerOptions { BatchNormLearningRateFactor = 0 };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml, options));
        Assert.Contains("BatchNormLearningRateFactor", error.Message);
    }
}
