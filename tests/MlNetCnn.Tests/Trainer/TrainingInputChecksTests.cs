using Microsoft.ML;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>Inputs that cannot train fail at the start of Fit with a message saying what to change, not inside libtorch.</summary>
public sealed class TrainingInputChecksTests
{
    private static CnnTrainerOptions Options() => new() { Epochs = 1, BatchSize = 16, Seed = 9, NumberOfThreads = 1 };

    [Fact]
    public void ACustomNetworkWithTheWrongNumberOfOutputsIsNamed()
    {
        var ml = new MLContext(seed: 1);
        var options = Options();
        options.Architecture = CnnArchitecture.Custom("ThreeOutputs", (c, h, w, classes) => nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 3)));
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(40, 10, 1));
        var error = Assert.Throws<ArgumentException>(() => new CnnTrainer(ml, options).Fit(data));
        Assert.Contains("'ThreeOutputs'", error.Message);
        Assert.Contains("[1, 3]", error.Message);
        Assert.Contains("[1, 10]", error.Message);
    }

    [Fact]
    public void ACustomNetworkWithTheRightWidthTrains()
    {
        var ml = new MLContext(seed: 1);
        var options = Options();
        options.Architecture = CnnArchitecture.Custom("RightWidth", (c, h, w, classes) => nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, classes)));
        using var model = new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(40, 4, 1)));
        Assert.Equal(4, model.ClassCount);
    }

    [Fact]
    public void ACropPaddingLargerThanTheImageFailsAtFit()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(32, 2, 1));
        var pipeline = ml.Transforms.AugmentImages(ImageAugmentationOptions.CropAndFlip(40, CropPadding.Reflect))
            .Append(new CnnTrainer(ml, Options()));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => pipeline.Fit(data));
        Assert.Contains("'Features'", error.Message);
        Assert.Contains("16×16", error.Message);
        Assert.Contains("CropPadding", error.Message);
    }

    [Fact]
    public void ASingleClassIsExplainedWithoutSendingTheUserToMapValueToKey()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(20, 1, 1));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml, Options()).Fit(data));
        Assert.Contains("single class", error.Message);
        Assert.DoesNotContain("apply MapValueToKey", error.Message);
    }
}
