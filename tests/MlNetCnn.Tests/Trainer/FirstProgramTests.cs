using Microsoft.ML;

namespace MlNetCnn.Tests;

/// <summary>
/// The README's first program (section "Use"), line for line on generated images: load folders, train with visible
/// progress, evaluate, save, load in a fresh MLContext, predict. If this test needs a change, so does the README.
/// </summary>
// Its accuracy bound holds for the seeded run, so it runs alone (libtorch's generator is process-wide): see SeededRunTests.
[Collection(nameof(SeededRunTests))]
public sealed class FirstProgramTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class Image
    {
        public string ImagePath { get; set; } = "";

        public string Label { get; set; } = "";
    }

    private sealed class Prediction
    {
        public string PredictedLabel { get; set; } = "";

        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void TheReadmeProgramTrainsEvaluatesSavesLoadsAndPredicts()
    {
        string root = _temp.Combine("digits");
        SyntheticImages.CreateFolder(Path.Combine(root, "train"), perClass: 40, seed: 1);
        SyntheticImages.CreateFolder(Path.Combine(root, "test"), perClass: 10, seed: 2);
        string modelPath = _temp.Combine("model.zip");
        var console = new StringWriter();
        var first = ImageFolder.List(Path.Combine(root, "test"))[0];
        string sevenPath = first.ImagePath, expectedLabel = first.Label;

        // ---- the README's lines, with Console.Out → console, "digits" → root, "model.zip" → modelPath ----
        var ml = new MLContext(seed: 1);
        var (train, test) = ImageFolder.LoadTrainTest(ml, root);                       // root/train|test/<label>/<image>
        var pipeline = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
            .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.Cnn(architecture: CnnArchitecture.LeNet5, epochs: 5,
                progress: new ConsoleTrainingProgress(console, redrawInPlace: false)))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        using var model = pipeline.Fit(train);
        console.WriteLine($"accuracy {ml.MulticlassClassification.Evaluate(model.Transform(test)).MicroAccuracy:F4}");
        ml.Model.SaveAtomically(model, train.Schema, modelPath);

        var ml2 = new MLContext();                                                       // later, in another process
        var loaded = ml2.Model.LoadCnnModel(modelPath, out _);
        using var engine = ml2.Model.CreatePredictionEngine<Image, Prediction>(loaded);
        var prediction = engine.Predict(new Image { ImagePath = sevenPath });
        console.WriteLine($"{prediction.PredictedLabel}; {loaded.GetCnnTransformer().TrainingHistory[^1]}");
        // ---- end of the README's lines ----
        using var disposeLoaded = (IDisposable)loaded;

        string[] all = console.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        // The run's notes first (kernels, data, precision), then a line per epoch, the accuracy and the prediction.
        Assert.StartsWith("CPU kernels: ", all[0]);
        Assert.Contains(all, l => l.StartsWith("precision: float32", StringComparison.Ordinal));
        string[] lines = all.SkipWhile(l => !l.StartsWith("Epoch ", StringComparison.Ordinal)).ToArray();
        Assert.Equal(7, lines.Length);
        Assert.All(lines[..5], (line, i) => Assert.StartsWith($"Epoch {i + 1}/5: loss ", line));
        Assert.StartsWith("accuracy ", lines[5]);
        Assert.True(double.Parse(lines[5]["accuracy ".Length..], System.Globalization.CultureInfo.CurrentCulture) > 0.9, lines[5]);
        Assert.Equal(expectedLabel, prediction.PredictedLabel);
        Assert.StartsWith($"{expectedLabel}; epoch 5: loss ", lines[6]);
    }

    [Fact]
    public void TheReadmeExportAndOnnxScoringSnippetsRun()
    {
        string root = _temp.Combine("digits");
        SyntheticImages.CreateFolder(Path.Combine(root, "train"), perClass: 20, seed: 3);
        SyntheticImages.CreateFolder(Path.Combine(root, "test"), perClass: 5, seed: 4);
        var ml = new MLContext(seed: 1);
        var (train, test) = ImageFolder.LoadTrainTest(ml, root);
        var pipeline = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
            .Append(ml.Transforms.Conversion.MapValueToKey("Label"))
            .Append(ml.MulticlassClassification.Trainers.Cnn(architecture: CnnArchitecture.LeNet5, epochs: 2))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        using var model = pipeline.Fit(train);
        string modelOnnx = _temp.Combine("model.onnx");

        // ---- the README's lines ("model.onnx" → modelOnnx) ----
        ml.Model.ExportToOnnx(model, train, modelOnnx);
        var onnx = ml.Transforms.LoadImagesForCnn(width: 28, height: 28, grayscale: true)
            .Append(ml.Transforms.ApplyOnnxModel(["Score.output", "PredictedLabel.output"], ["Features"], modelOnnx))
            .Fit(test);
        var scored = onnx.Transform(test);   // columns Score (probabilities) and PredictedLabel (a 1-element vector: the label)
        // ---- end of the README's lines ----
        using var disposeOnnx = onnx as IDisposable;

        var fromOnnx = ml.Data.CreateEnumerable<OnnxPrediction>(scored, reuseRowObject: false).ToList();
        var fromLibrary = ml.Data.CreateEnumerable<Prediction>(model.Transform(test), reuseRowObject: false).ToList();
        Assert.Equal(fromLibrary.Count, fromOnnx.Count);
        Assert.Equal(fromLibrary.Select(p => p.PredictedLabel), fromOnnx.Select(p => Assert.Single(p.PredictedLabel)));
        float difference = fromLibrary.Zip(fromOnnx).SelectMany(p => p.First.Score.Zip(p.Second.Score, (a, b) => Math.Abs(a - b))).Max();
        Assert.True(difference <= 1e-4f, $"max |ΔScore| {difference}");
    }

    private sealed class OnnxPrediction
    {
        public float[] Score { get; set; } = [];

        public string[] PredictedLabel { get; set; } = [];
    }
}
