using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;

namespace MlNetCnn.Tests;

public sealed class PipelineTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    internal static EstimatorChain<Microsoft.ML.Transforms.KeyToValueMappingTransformer> GrayscalePipeline(MLContext ml,
        CnnTrainerOptions options, int size = 28)
        => ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", size, size))
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image",
                colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red, scaleImage: 1f / 255))
            .Append(new CnnTrainer(ml, options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    [Fact]
    public void TrainsEvaluatesAndPredictsThroughAnMlNetPipeline()
    {
        var ml = new MLContext(seed: 1);
        var train = ImageFolder.Load(ml, SyntheticImages.CreateFolder(_temp.Combine("train"), perClass: 60, seed: 1));
        var test = ImageFolder.Load(ml, SyntheticImages.CreateFolder(_temp.Combine("test"), perClass: 20, seed: 2));
        var epochs = new List<TrainingProgress>();
        var options = new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 4, BatchSize = 16,
            ProgressInterval = 5, Progress = new SynchronousProgress<TrainingProgress>(epochs.Add) };

        var model = GrayscalePipeline(ml, options).Fit(train);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));

        Assert.True(metrics.MicroAccuracy > 0.9, $"accuracy {metrics.MicroAccuracy}");
        var epochEnds = epochs.Where(p => p.IsEpochEnd).Select(p => p.Summary!).ToList();
        Assert.Equal([1, 2, 3, 4], epochEnds.Select(e => e.Epoch));
        Assert.True(epochEnds[^1].TrainLoss < epochEnds[0].TrainLoss);
        // 180 images in batches of 16: 12 batches per epoch, a mid-epoch report every 5 batches.
        Assert.Equal(4 * 2, epochs.Count(p => !p.IsEpochEnd));
        Assert.All(epochs.Where(p => !p.IsEpochEnd), p => Assert.Equal(12, p.BatchesPerEpoch));
        var cnn = model.OfType<CnnTransformer>().Single();
        Assert.Equal(new ImageShape(1, 28, 28), cnn.InputShape);
        Assert.Equal(3, cnn.ClassCount);
        Assert.Equal(4, cnn.TrainingHistory.Count);

        var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(model);
        var first = ImageFolder.List(_temp.Combine("test"))[0];
        var prediction = engine.Predict(new ImageInput { ImagePath = first.ImagePath, Label = first.Label });
        Assert.Equal(first.Label, prediction.PredictedLabel);
        Assert.Equal(3, prediction.Score.Length);
        Assert.Equal(1f, prediction.Score.Sum(), 3);
    }
}

/// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}

public sealed class ImageInput
{
    public string ImagePath { get; set; } = "";

    public string Label { get; set; } = "";
}

public sealed class ImagePrediction
{
    public float[] Score { get; set; } = [];

    public string PredictedLabel { get; set; } = "";
}
