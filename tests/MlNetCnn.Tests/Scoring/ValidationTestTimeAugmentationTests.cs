using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>CnnTrainerOptions.ValidationTestTimeAugmentation: the per-epoch validation scores its own way; the model
/// keeps TestTimeAugmentation.</summary>
// Compares seeded runs value for value, so it runs alone: see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class ValidationTestTimeAugmentationTests
{
    private static CnnTransformer Train(TestTimeAugmentation testTime, TestTimeAugmentation? validationTestTime)
    {
        var ml = new MLContext(seed: 1);
        var options = new CnnTrainerOptions
        {
            Epochs = 2, BatchSize = 16, Seed = 4, NumberOfThreads = 1,
            TestTimeAugmentation = testTime, ValidationTestTimeAugmentation = validationTestTime,
            ValidationData = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(40, 3, 8), SyntheticTensors.Rows(60, 3, 2)),
        };
        return new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(60, 3, 2)));
    }

    [Fact]
    public void ValidationScoresWithItsOwnSettingWhileTheModelKeepsTheFlip()
    {
        using var flipModelPlainValidation = Train(TestTimeAugmentation.HorizontalFlip, TestTimeAugmentation.None);
        using var plain = Train(TestTimeAugmentation.None, null);
        using var flip = Train(TestTimeAugmentation.HorizontalFlip, null);
        // Same seed, same weights: the validation figures follow the validation setting, not the model's.
        Assert.Equal(plain.TrainingHistory.Select(e => e.ValidationLoss), flipModelPlainValidation.TrainingHistory.Select(e => e.ValidationLoss));
        Assert.NotEqual(flip.TrainingHistory.Select(e => e.ValidationLoss), flipModelPlainValidation.TrainingHistory.Select(e => e.ValidationLoss));
        Assert.Equal(TestTimeAugmentation.HorizontalFlip, flipModelPlainValidation.TestTimeAugmentation);
    }
}
