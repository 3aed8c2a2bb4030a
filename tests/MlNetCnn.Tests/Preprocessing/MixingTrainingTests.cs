using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>Mixup and CutMix in a training run: they change what is learned, reproducibly, survive a resume bit for
/// bit, and bad settings are refused.</summary>
// Compares seeded runs bit for bit, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class MixingTrainingTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    // 48 images in batches of 16: 3 steps per epoch.
    private static CnnTrainerOptions Options(MixingOptions? mixing) => new()
    {
        Architecture = CnnArchitecture.ResNet9(4), Epochs = 2, BatchSize = 16, Seed = 4, NumberOfThreads = 1,
        Optimizer = CnnOptimizer.Sgd, LearningRate = 0.05, ProgressInterval = 1000, Mixing = mixing,
    };

    private static MixingOptions Both() => new() { MixupAlpha = 0.4, CutMixAlpha = 1, Probability = 0.8 };

    private static IDataView Data(MLContext ml) => SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(48, 3, 1));

    private static float[] State(CnnTransformer model)
        => model.Network.Module.state_dict().Values.Where(t => t.is_floating_point()).SelectMany(t => t.data<float>().ToArray()).ToArray();

    private static float[] Trained(MixingOptions? mixing)
    {
        var ml = new MLContext(seed: 1);
        using var model = new CnnTrainer(ml, Options(mixing)).Fit(Data(ml));
        return State(model);
    }

    [Fact]
    public void MixingChangesTheTrainedNetworkAndTheSameSeedReproducesIt()
    {
        var mixed = Trained(Both());
        Assert.NotEqual(Trained(null), mixed);
        Assert.Equal(mixed, Trained(Both()));
        Assert.NotEqual(mixed, Trained(MixingOptions.CutMix()));
    }

    [Fact]
    public void AResumedRunMixesExactlyAsTheUninterruptedOne()
    {
        var ml = new MLContext(seed: 1);
        var (uninterrupted, copy) = UninterruptedRun.Train(ml, Options(Both()), Data(ml), _temp, epoch: 1);
        float[] expected;
        using (uninterrupted)
            expected = State(uninterrupted);

        var resumed = Options(Both());
        resumed.ResumeFromCheckpoint = copy;
        using var model = new CnnTrainer(ml, resumed).Fit(Data(ml));
        Assert.Equal(expected, State(model));

        var other = Options(MixingOptions.CutMix());
        other.ResumeFromCheckpoint = copy;
        Assert.Contains("mixing", Assert.Throws<InvalidOperationException>(() => new CnnTrainer(ml, other).Fit(Data(ml))).Message);
    }

    public static TheoryData<double, double, double, string> InvalidSettings => new()
    {
        { 0, 0, 1, "mixes nothing" },
        { -0.2, 0, 1, "MixupAlpha" },
        { 0, double.NaN, 1, "CutMixAlpha" },
        { 0, double.PositiveInfinity, 1, "CutMixAlpha" },
        { 0.2, 0, 0, "Probability" },
        { 0.2, 0, 1.5, "Probability" },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void AnInvalidSettingIsRefusedAtCreationAndAtFit(double mixup, double cutMix, double probability, string expected)
    {
        var ml = new MLContext(seed: 1);
        var mixing = new MixingOptions { MixupAlpha = mixup, CutMixAlpha = cutMix, Probability = probability };
        var atCreation = Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml, new CnnTrainerOptions { Mixing = mixing }));
        Assert.Contains(expected, atCreation.Message);

        var options = new CnnTrainerOptions { Epochs = 1, Mixing = MixingOptions.Mixup() };
        var trainer = new CnnTrainer(ml, options);
        options.Mixing = mixing;
        Assert.Contains(expected, Assert.ThrowsAny<ArgumentException>(() => trainer.Fit(Data(ml))).Message);
    }
}
