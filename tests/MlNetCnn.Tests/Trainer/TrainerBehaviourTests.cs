using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class TrainerBehaviourTests(TrainedModelFixture fixture) : IClassFixture<TrainedModelFixture>
{
    internal static IDataView Prepared(MLContext ml, IDataView images, out ITransformer preprocessing)
    {
        var estimator = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", null, "ImagePath"))
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image",
                colorsToExtract: Microsoft.ML.Transforms.Image.ImagePixelExtractingEstimator.ColorBits.Red));
        preprocessing = estimator.Fit(images);
        return ml.Data.Cache(preprocessing.Transform(images));
    }

    [Fact]
    public void CatalogEntryPointTrainsAndLogsEveryEpochToMlContextLog()
    {
        var ml = new MLContext(seed: 2);
        var messages = new ConcurrentQueue<string>();
        ml.Log += (_, e) => messages.Enqueue(e.Message);
        var data = Prepared(ml, fixture.Train, out _);

        using var model = ml.MulticlassClassification.Trainers.Cnn(new CnnTrainerOptions { Epochs = 2, BatchSize = 32 }).Fit(data);

        Assert.Equal(2, messages.Count(m => m.Contains("CnnTrainer LeNet5: epoch", StringComparison.Ordinal)));
        Assert.Contains(messages, m => m.Contains("training images of 1×28×28, 3 classes", StringComparison.Ordinal));
    }

    [Fact]
    public void ValidationDataIsScoredAfterEveryEpoch()
    {
        var ml = new MLContext(seed: 2);
        var train = Prepared(ml, fixture.Train, out var preprocessing);
        var validation = preprocessing.Transform(fixture.Test);

        using var model = new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 3, BatchSize = 16, ValidationData = validation }).Fit(train);

        Assert.All(model.TrainingHistory, e => Assert.InRange(e.ValidationAccuracy!.Value, 0, 1));
        Assert.True(model.TrainingHistory[^1].ValidationLoss < model.TrainingHistory[0].ValidationLoss);
        Assert.True(model.TrainingHistory[^1].ValidationAccuracy > 0.9);
    }

    [Fact]
    public void TransformIsThreadSafeAndMatchesSingleThreadedScores()
    {
        var expected = fixture.Ml.Data.CreateEnumerable<ImagePrediction>(fixture.Model.Transform(fixture.Test),
            reuseRowObject: false).Select(p => p.Score).ToList();
        var results = new ConcurrentBag<List<float[]>>();
        Parallel.For(0, 4,
            _ => results.Add(fixture.Ml.Data.CreateEnumerable<ImagePrediction>(fixture.Model.Transform(fixture.Test),
                reuseRowObject: false).Select(p => p.Score).ToList()));
        Assert.Equal(4, results.Count);
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void ScoresFromTransformAndPredictionEngineAgree()
    {
        var engine = fixture.Ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(fixture.Model);
        var rows = ImageFolder.List(fixture.TestRoot);
        var batched = fixture.Ml.Data.CreateEnumerable<ImagePrediction>(fixture.Model.Transform(fixture.Test), reuseRowObject: false).ToList();
        for (int i = 0; i < rows.Count; i += 5)
        {
            var single = engine.Predict(new ImageInput { ImagePath = rows[i].ImagePath, Label = rows[i].Label });
            Assert.Equal(batched[i].PredictedLabel, single.PredictedLabel);
            for (int k = 0; k < single.Score.Length; k++)
                Assert.Equal(batched[i].Score[k], single.Score[k], 4);
        }
    }

    internal sealed class ScoreOnly
    {
        public float[] Score { get; set; } = [];
    }
}
