using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// <see cref="TestTimeAugmentation.HorizontalFlipAndTranslation"/>: the weighted mean of six views (the image, its mirror,
/// the image shifted one pixel down-right and up-left with reflected borders, and their mirrors) on every scoring path.
/// </summary>
public sealed class TranslationTestTimeAugmentationTests : IDisposable
{
    private static readonly ImageShape Shape = new(3, 32, 32);
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>A LeNet-5 with random weights and standardization (as the ONNX tests draw them), with an embedding column.</summary>
    private static CnnTransformer RandomTransformer(TestTimeAugmentation augmentation, int seed = 3)
    {
        using var source = OnnxArchitectureTests.RandomTransformer(CnnArchitecture.LeNet5, Shape, seed);
        var module = CnnArchitecture.LeNet5.CreateModule(Shape.Channels, Shape.Height, Shape.Width, 10);
        ModuleWeights.Deserialize(module, ModuleWeights.Serialize(source.Network.Module));
        var standardization = new InputStandardization(source.Network.Standardization.Mean, source.Network.Standardization.Std, Shape);
        var network = new ScoringNetwork(CnnArchitecture.LeNet5, module, standardization, Shape, 10,
            embeddingColumnName: "Embedding", testTimeAugmentation: augmentation);
        return new CnnTransformer(CnnArchitecture.LeNet5, network, "Features", null, [], scoringBatchSize: 64);
    }

    private static List<float[]> Column(IDataView scored, string column)
    {
        var values = new List<float[]>();
        var col = scored.Schema[column];
        using var cursor = scored.GetRowCursor([col]);
        var get = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> value = default;
        while (cursor.MoveNext())
        {
            get(ref value);
            values.Add(value.DenseValues().ToArray());
        }
        return values;
    }

    private static float MaxDifference(List<float[]> a, List<float[]> b)
    {
        Assert.Equal(a.Count, b.Count);
        return a.Zip(b).Max(p => p.First.Zip(p.Second).Max(q => Math.Abs(q.First - q.Second)));
    }

    /// <summary>Index <paramref name="k"/> reflected into [0, n) without repeating the edge (PyTorch's reflect padding).</summary>
    private static int Reflect(int k, int n) => k < 0 ? -k : k >= n ? 2 * n - 2 - k : k;

    /// <summary>Pixel (i, j) of the view is pixel (i + dy, j + dx) of the image (reflected at the border), mirrored after the shift.</summary>
    private static float[] View(float[] image, int dy, int dx, bool mirror)
    {
        var view = new float[image.Length];
        int h = Shape.Height, w = Shape.Width;
        for (int c = 0; c < Shape.Channels; c++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    view[(c * h + i) * w + j] = image[(c * h + Reflect(i + dy, h)) * w + Reflect((mirror ? w - 1 - j : j) + dx, w)];
        return view;
    }

    [Fact]
    public void TheScoresAreTheWeightedMeanOfTheSixViewsComputedByHand()
    {
        var ml = new MLContext(seed: 1);
        using var cnn = RandomTransformer(TestTimeAugmentation.HorizontalFlipAndTranslation);
        var (pixels, data) = OnnxArchitectureTests.RandomImages(ml, Shape, 12, seed: 4);
        var scores = Column(cnn.Transform(data), "Score");

        // The definition: each view scored on its own, its softmax weighted 1/4 (image, mirror) or 1/8 (the shifted ones).
        (int Dy, int Dx, bool Mirror, double Weight)[] views =
            [(0, 0, false, 0.25), (0, 0, true, 0.25), (-1, -1, false, 0.125), (-1, -1, true, 0.125), (1, 1, false, 0.125), (1, 1, true, 0.125)];
        var expected = Enumerable.Range(0, 12).Select(_ => new double[10]).ToList();
        using (NewDisposeScope())
        using (no_grad())
        {
            foreach (var (dy, dx, mirror, weight) in views)
            {
                var batch = pixels.Chunk(Shape.Size).SelectMany(image => View(image, dy, dx, mirror)).ToArray();
                var images = cnn.Network.Standardization.Apply(tensor(batch).reshape(12, Shape.Channels, Shape.Height, Shape.Width));
                var probabilities = nn.functional.softmax(cnn.Network.Module.call(images), 1).data<float>().ToArray();
                for (int row = 0; row < 12; row++)
                    for (int k = 0; k < 10; k++)
                        expected[row][k] += weight * probabilities[row * 10 + k];
            }
        }
        var expectedRows = expected.Select(r => r.Select(v => (float)v).ToArray()).ToList();
        Assert.True(MaxDifference(scores, expectedRows) < 1e-5f, $"max difference {MaxDifference(scores, expectedRows)}");

        // The views matter: the flip alone scores these random images differently.
        using var flipOnly = RandomTransformer(TestTimeAugmentation.HorizontalFlip);
        Assert.True(MaxDifference(scores, Column(flipOnly.Transform(data), "Score")) > 1e-4f);
    }

    [Fact]
    public void EveryModeScoresWithTheForwardPassesItNeedsAndKeepsTheEmbeddingsOfTheImagesThemselves()
    {
        var ml = new MLContext(seed: 1);
        var (_, data) = OnnxArchitectureTests.RandomImages(ml, Shape, 20, seed: 5);
        using var plain = RandomTransformer(TestTimeAugmentation.None);
        var embeddings = Column(plain.Transform(data), "Embedding");
        foreach (var (augmentation, passes) in new[]
        {
            (TestTimeAugmentation.None, new long[] { 20 }),
            (TestTimeAugmentation.HorizontalFlip, [40]),
            (TestTimeAugmentation.HorizontalFlipAndTranslation, [40, 40, 40]),
        })
        {
            using var cnn = RandomTransformer(augmentation);
            var batches = new List<long>();
            cnn.Network.Module.register_forward_pre_hook((_, input) =>
            {
                batches.Add(input.shape[0]);
                return input;
            });
            var scored = cnn.Transform(data);
            var scoredEmbeddings = Column(scored, "Embedding");

            // One scoring batch of 20 rows: the images once, with their mirror, or with their mirror in three passes of 40.
            Assert.Equal(passes, batches);
            Assert.True(MaxDifference(embeddings, scoredEmbeddings) < 1e-5f,
                $"{augmentation}: embeddings differ from those of the images themselves");
        }
    }

    [Fact]
    public void TheModeIsSavedWithTheModelAndAppliesToValidationAndEveryScoringPath()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(96, 3, 1);
        var validation = SyntheticTensors.Rows(30, 3, 2);
        var options = new CnnTrainerOptions
        {
            Epochs = 1, BatchSize = 16, Seed = 9, NumberOfThreads = 1, ProgressInterval = 1000,
            TestTimeAugmentation = TestTimeAugmentation.HorizontalFlipAndTranslation,
            ValidationData = SyntheticTensors.Keyed(ml, validation, rows),
        };
        using var cnn = new CnnTrainer(ml, options).Fit(SyntheticTensors.Keyed(ml, rows));
        Assert.Equal(TestTimeAugmentation.HorizontalFlipAndTranslation, cnn.TestTimeAugmentation);

        // The per-epoch validation figures are those of the transformer, which scores with the six views.
        var validationData = SyntheticTensors.Keyed(ml, validation, rows);
        var metrics = ml.MulticlassClassification.Evaluate(cnn.Transform(validationData));
        Assert.Equal(metrics.MicroAccuracy, cnn.TrainingHistory[^1].ValidationAccuracy!.Value, 6);
        Assert.Equal(metrics.LogLoss, cnn.TrainingHistory[^1].ValidationLoss!.Value, 4);

        string path = _temp.Combine("translation.zip");
        ml.Model.Save(cnn, null, path);
        using var loaded = (CnnTransformer)new MLContext().Model.Load(path, out _);
        Assert.Equal(TestTimeAugmentation.HorizontalFlipAndTranslation, loaded.TestTimeAugmentation);
        var scores = Column(cnn.Transform(validationData), "Score");
        Assert.Equal(scores, Column(loaded.Transform(validationData), "Score"));

        var engine = ml.Model.CreatePredictionEngine<SyntheticTensors.Row, ScoredRow>(loaded, inputSchemaDefinition: null);
        Assert.True(MaxDifference([scores[0]], [engine.Predict(validation[0]).Score]) < 1e-5f);
    }

    [Fact]
    public void OnnxRuntimeScoresTheExportedSixViewsLikeTheLibrary()
    {
        var ml = new MLContext(seed: 1);
        using var cnn = RandomTransformer(TestTimeAugmentation.HorizontalFlipAndTranslation);
        var (pixels, data) = OnnxArchitectureTests.RandomImages(ml, Shape, 16, seed: 6);
        var scored = cnn.Transform(data);
        var (scores, labels) = OnnxRuntimeScorer.LibraryScores(scored);

        byte[] model = OnnxRuntimeScorer.Export(ml, cnn, data);
        var onnx = OnnxRuntimeScorer.Score(model, "Features", pixels, [16, Shape.Channels, Shape.Height, Shape.Width],
            "Score.output", "PredictedLabel.output", "Embedding.output");

        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(scores, onnx["Score.output"]) <= 1e-5f);
        OnnxArchitectureTests.AssertSameLabels(scores, labels, onnx["PredictedLabel.output"]);
        var embeddings = Column(scored, "Embedding").SelectMany(e => e).ToArray();
        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(embeddings, onnx["Embedding.output"]) <= 1e-5f);
        // The ONNX checker too, where Debian's python3-onnx is installed (.ci/run installs it).
        if (OnnxCheckerAvailability.MissingReason is null)
        {
            string path = _temp.Combine("translation.onnx");
            File.WriteAllBytes(path, model);
            Assert.StartsWith("ir ", OnnxRuntimeScorer.Check(path));
        }
    }

    [Fact]
    public void ImagesNarrowerThanTwoPixelsAreRefusedBeforeTraining()
    {
        var ml = new MLContext(seed: 1);
        var definition = SchemaDefinition.Create(typeof(SyntheticTensors.Row));
        definition["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 16, 16, 1);
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(SyntheticTensors.Rows(8, 2, 1), definition))
            .Transform(ml.Data.LoadFromEnumerable(SyntheticTensors.Rows(8, 2, 1), definition));
        var options = new CnnTrainerOptions { Epochs = 1, TestTimeAugmentation = TestTimeAugmentation.HorizontalFlipAndTranslation };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(ml, options).Fit(data));

        Assert.Contains("TestTimeAugmentation", error.Message);
        Assert.Contains("'Features'", error.Message);
        Assert.Contains("16×16×1", error.Message);
    }

    [Fact]
    public void AModelFileAskingToShiftImagesOnePixelWideIsRefusedAtLoad()
    {
        string path = _temp.Combine("forged.zip");
        File.WriteAllBytes(path, SmallSavedModel.Bytes);
        var entry = ModelFileEditor.ReadEntry(path);
        var at = ModelFileEditor.Locate(entry);
        ModelFileEditor.WriteInt32(entry, at.Width, 1);
        ModelFileEditor.WriteInt32(entry, at.TestTimeAugmentation, (int)TestTimeAugmentation.HorizontalFlipAndTranslation);
        ModelFileEditor.WriteEntry(path, ModelFileEditor.Rehash(entry));

        var error = Assert.Throws<InvalidDataException>(() => new MLContext().Model.LoadCnnModel(path, out _));

        Assert.Contains(path, error.Message);
        Assert.Contains("HorizontalFlipAndTranslation cannot score images of 1×16×1", error.Message);
    }

    private sealed class ScoredRow
    {
        public float[] Score { get; set; } = [];
    }
}
