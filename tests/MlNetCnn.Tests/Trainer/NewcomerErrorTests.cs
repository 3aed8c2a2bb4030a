using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// The mistakes a newcomer makes first get errors that point at the fix: the option that names a column, the columns
/// that are there, the key column a MapValueToKey wrote under another name, the step that turns images into pixels;
/// and a console run says what it trains with (kernels, precision, the pretrained weights it loaded).
/// </summary>
public sealed class NewcomerErrorTests
{
    private static CnnTrainerOptions Options() => new() { Architecture = CnnArchitecture.LeNet5, Epochs = 1, BatchSize = 16, Seed = 3 };

    [Fact]
    public void ALabelKeyedUnderAnotherNameNamesThatColumnAndTheOption()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(SyntheticTensors.Rows(20, 2, 1));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Digit", "Label").Append(ml.MulticlassClassification.Trainers.Cnn(Options()));

        var error = Assert.ThrowsAny<ArgumentException>(() => pipeline.Fit(data));

        Assert.Contains("'Label'", error.Message);
        Assert.Contains("key column 'Digit'", error.Message);
        Assert.Contains("labelColumnName: \"Digit\"", error.Message);
    }

    [Fact]
    public void AMissingLabelColumnListsTheColumnsThatAreThere()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(20, 2, 1));
        var options = Options();
        options.LabelColumnName = "Digit";

        var error = Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml, options).Fit(data));

        Assert.Contains("'Digit' was not found", error.Message);
        Assert.Contains("columns present: Features, Label", error.Message);
        Assert.Contains("LabelColumnName", error.Message);
        Assert.Contains("key column 'Label'", error.Message);
    }

    [Fact]
    public void AMissingFeatureColumnListsTheColumnsAndTheOption()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(20, 2, 1));
        var options = Options();
        options.FeatureColumnName = "Pixels";

        var error = Assert.ThrowsAny<ArgumentException>(() => new CnnTrainer(ml, options).Fit(data));

        Assert.Contains("'Pixels' was not found", error.Message);
        Assert.Contains("Features", error.Message);
        Assert.Contains("FeatureColumnName", error.Message);
    }

    [Fact]
    public void AFineTuningRunOnTheConsoleSaysWhichWeightsLoadedThePrecisionAndTheKernels()
    {
        var ml = new MLContext(seed: 1);
        var data = SyntheticTensors.Keyed(ml, SyntheticTensors.Rows(32, 2, 1));
        using var temp = new TempFolder();
        string weightsPath = temp.Combine("start.safetensors");
        using (var first = new CnnTrainer(ml, Options()).Fit(data))
            first.SaveWeights(weightsPath);
        using var weights = PretrainedWeights.FromFile(weightsPath);
        var console = new StringWriter();
        var options = Options();
        options.InitialWeights = weights;
        options.Progress = new ConsoleTrainingProgress(console, redrawInPlace: false);

        using var tuned = new CnnTrainer(ml, options).Fit(data);

        string output = console.ToString();
        Assert.Contains("CPU kernels: ", output);
        Assert.Contains("(kernel check: ", output);
        Assert.Contains("pretrained weights ", output);
        Assert.Contains("start.safetensors: loaded 10 tensors", output);
        Assert.Contains("precision: float32.", output);
        // The notes come before the first epoch's line.
        Assert.True(output.IndexOf("pretrained weights", StringComparison.Ordinal) < output.IndexOf("Epoch 1/1", StringComparison.Ordinal), output);
    }
}
