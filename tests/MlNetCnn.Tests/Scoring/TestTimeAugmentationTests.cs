using Microsoft.ML;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

public sealed class TestTimeAugmentationTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CnnTrainerOptions Options(TestTimeAugmentation augmentation) => new()
    {
        Epochs = 2, BatchSize = 16, Seed = 9, NumberOfThreads = 1, ProgressInterval = 1000, TestTimeAugmentation = augmentation,
    };

    private static List<SyntheticTensors.Row> Mirrored(List<SyntheticTensors.Row> rows) => rows.Select(r => new SyntheticTensors.Row
    {
        Label = r.Label,
        Features = Enumerable.Range(0, 256).Select(i => r.Features[i / 16 * 16 + 15 - i % 16]).ToArray(),
    }).ToList();

    private static List<float[]> Scores(MLContext ml, ITransformer model, List<SyntheticTensors.Row> rows, List<SyntheticTensors.Row> keySource)
        => ml.Data.CreateEnumerable<ScoredRow>(model.Transform(SyntheticTensors.Keyed(ml, rows, keySource)),
            reuseRowObject: false).Select(r => r.Score).ToList();

    private static float MaxDifference(List<float[]> a, List<float[]> b) => a.Zip(b)
        .Max(p => p.First.Zip(p.Second).Max(q => Math.Abs(q.First - q.Second)));

    [Fact]
    public void AHorizontalFlipAveragesTheProbabilitiesOfAnImageAndItsMirror()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(96, 3, 1);
        var options = Options(TestTimeAugmentation.HorizontalFlip);
        options.EmbeddingColumnName = "Embedding";
        using var cnn = new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, rows));
        Assert.Equal(TestTimeAugmentation.HorizontalFlip, cnn.TestTimeAugmentation);
        var scores = Scores(ml, cnn, rows, rows);

        // The definition, computed here from the network itself: the mean of the two softmax outputs.
        using (NewDisposeScope())
        using (no_grad())
        {
            var images = tensor(rows.SelectMany(r => r.Features).ToArray()).reshape(rows.Count, 1, 16, 16);
            var standardized = cnn.Network.Standardization.Apply(images);
            var expected = (nn.functional.softmax(cnn.Network.Module.call(standardized), 1)
                + nn.functional.softmax(cnn.Network.Module.call(standardized.flip(3)), 1)) / 2;
            var expectedRows = Enumerable.Range(0, rows.Count).Select(i => expected[i].data<float>().ToArray()).ToList();
            Assert.True(MaxDifference(scores, expectedRows) < 1e-5f, $"max difference {MaxDifference(scores, expectedRows)}");
        }
        // Hence an image and its mirror score alike, which the same network without the flip does not do.
        Assert.True(MaxDifference(scores, Scores(ml, cnn, Mirrored(rows), rows)) < 1e-5f);
        using var plain = new CnnTrainer(ml, Options(TestTimeAugmentation.None)).Fit(SyntheticTensors.Keyed(ml, rows));
        Assert.True(MaxDifference(Scores(ml, plain, rows, rows), Scores(ml, plain, Mirrored(rows), rows)) > 1e-3f);

        // Embeddings stay one per image: those of the image itself.
        var embeddings = ml.Data.CreateEnumerable<EmbeddingRow>(cnn.Transform(SyntheticTensors.Keyed(ml, rows)), reuseRowObject: false).ToList();
        Assert.All(embeddings, e => Assert.Equal(cnn.EmbeddingSize, e.Embedding.Length));
    }

    [Fact]
    public void TheFlipIsSavedWithTheModelAndAppliesOnEveryScoringPath()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(96, 3, 1);
        using var cnn = new CnnTrainer(ml, Options(TestTimeAugmentation.HorizontalFlip)).Fit(SyntheticTensors.Keyed(ml, rows));
        string path = _temp.Combine("flip.zip");
        ml.Model.Save(cnn, null, path);
        using var loaded = (CnnTransformer)new MLContext().Model.Load(path, out _);
        Assert.Equal(TestTimeAugmentation.HorizontalFlip, loaded.TestTimeAugmentation);
        var scores = Scores(ml, cnn, rows, rows);
        Assert.True(MaxDifference(scores, Scores(ml, loaded, rows, rows)) < 1e-6f);
        var engine = ml.Model.CreatePredictionEngine<SyntheticTensors.Row, ScoredRow>(loaded, inputSchemaDefinition: null);
        var mirror = Mirrored(rows.Take(1).ToList())[0];
        Assert.True(MaxDifference([scores[0]], [engine.Predict(mirror).Score]) < 1e-5f);
    }

    [Fact]
    public void TheValidationFiguresUseTheFlipToo()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(96, 3, 1);
        var validation = SyntheticTensors.Rows(30, 3, 2);
        var options = Options(TestTimeAugmentation.HorizontalFlip);
        options.Epochs = 1;
        options.ValidationData = SyntheticTensors.Keyed(ml, validation, rows);
        using var cnn = new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, rows));
        var metrics = ml.MulticlassClassification.Evaluate(cnn.Transform(SyntheticTensors.Keyed(ml, validation, rows)));
        Assert.Equal(metrics.MicroAccuracy, cnn.TrainingHistory[^1].ValidationAccuracy!.Value, 6);
        Assert.Equal(metrics.LogLoss, cnn.TrainingHistory[^1].ValidationLoss!.Value, 4);
    }

    [Fact]
    public void AnUnknownTestTimeAugmentationIsRejected()
    {
        var ml = new MLContext(seed: 1);
        var options = Options((TestTimeAugmentation)7);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml, options));
        Assert.Contains("TestTimeAugmentation", error.Message);
    }

    private sealed class ScoredRow
    {
        public float[] Score { get; set; } = [];
    }

    private sealed class EmbeddingRow
    {
        public float[] Embedding { get; set; } = [];
    }
}
