using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>
/// A whole pipeline (NormalizeImages → AugmentImages → CnnTrainer → MapKeyToValue) exported with ML.NET's own
/// converter: ONNX Runtime scores like the library, ML.NET's ApplyOnnxModel runs the file, the ONNX checker accepts it.
/// </summary>
public sealed class OnnxExportTests : IClassFixture<OnnxExportTests.TrainedPipeline>
{
    private const int Size = 28;
    private readonly TrainedPipeline _trained;

    public OnnxExportTests(TrainedPipeline trained) => _trained = trained;

    public sealed class ImageRow
    {
        [VectorType(1, Size, Size)]
        public float[] Features { get; set; } = [];
    }

    private sealed class LabeledRow
    {
        [VectorType(1, Size, Size)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }

    /// <summary>LeNet-5 trained for two epochs on synthetic strokes, with flip test-time augmentation and an embedding column.</summary>
    public sealed class TrainedPipeline : IDisposable
    {
        public TrainedPipeline()
        {
            var random = new Random(21);
            var rows = Enumerable.Range(0, 240)
                .Select(i =>
                    new LabeledRow { Features = Image(i % 3, random), Label = SyntheticImages.ClassNames[i % 3] })
                    .ToArray();
            var pipeline = Ml.Transforms.Conversion.MapValueToKey("Label")
                .Append(Ml.Transforms.NormalizeImages("Features"))
                .Append(Ml.Transforms.AugmentImages(ImageAugmentationOptions.CropAndFlip(2)))
                .Append(new CnnTrainer(Ml, new CnnTrainerOptions
                {
                    Epochs = 2, BatchSize = 32, Seed = 4, EmbeddingColumnName = "Embedding",
                    TestTimeAugmentation = TestTimeAugmentation.HorizontalFlip,
                }))
                .Append(Ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
            var model = pipeline.Fit(Ml.Data.LoadFromEnumerable(rows));
            // The scoring part: everything after the label's MapValueToKey, which only training needs.
            Scoring = new TransformerChain<ITransformer>(model.Skip(1).ToArray());
            Images = Enumerable.Range(0, 1000).Select(i => new ImageRow { Features = Image(i % 3, random) }).ToArray();
            Data = Ml.Data.LoadFromEnumerable(Images);
            Onnx = OnnxRuntimeScorer.Export(Ml, Scoring, Data);
        }

        public MLContext Ml { get; } = new(seed: 2);

        public TransformerChain<ITransformer> Scoring { get; }

        public ImageRow[] Images { get; }

        public IDataView Data { get; }

        public byte[] Onnx { get; }

        public CnnTransformer Cnn => Scoring.OfType<CnnTransformer>().Single();

        public void Dispose() => Cnn.Dispose();

        private static float[] Image(int cls, Random random)
            => SyntheticImages.Draw(cls, Size, random, color: false).Where((_, i) => i % 4 == 0).Select(b => b / 255f).ToArray();
    }

    [Fact]
    public void OnnxRuntimeScoresThousandImagesLikeTheLibrary()
    {
        var scored = _trained.Scoring.Transform(_trained.Data);
        var expected = _trained.Ml.Data.CreateEnumerable<ScoredRow>(scored, reuseRowObject: false).ToArray();
        float[] pixels = _trained.Images.SelectMany(r => r.Features).ToArray();

        var onnx = OnnxRuntimeScorer.Score(_trained.Onnx, "Features", pixels, [_trained.Images.Length, 1, Size, Size],
            "Score.output", "Embedding.output");
        var labels = OnnxLabels(_trained.Onnx, pixels);

        Assert.Equal(1000, expected.Length);
        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(expected.SelectMany(r => r.Score).ToArray(), onnx["Score.output"]) <= 1e-4f);
        Assert.Equal(expected.Select(r => r.PredictedLabel), labels);
        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(expected.SelectMany(r => r.Embedding).ToArray(), onnx["Embedding.output"]) <= 1e-4f);
        // The model is not trivial: it predicts more than one class.
        Assert.True(labels.Distinct().Count() > 1);
    }

    [Fact]
    public void PredictedLabelKeyIsTheOneBasedClassAsUInt32()
    {
        // Without MapKeyToValue the key column itself is the output, as ML.NET's converter writes keys.
        var chain = new TransformerChain<ITransformer>(_trained.Scoring.Take(3).ToArray());
        byte[] model = OnnxRuntimeScorer.Export(_trained.Ml, chain, _trained.Data);
        var rows = _trained.Images.Take(64).ToArray();
        var (_, keys) = OnnxRuntimeScorer.LibraryScores(chain.Transform(_trained.Ml.Data.LoadFromEnumerable(rows)));

        var onnx = OnnxRuntimeScorer.Score(model, "Features", rows.SelectMany(r => r.Features).ToArray(),
            [rows.Length, 1, Size, Size], "PredictedLabel.output");

        Assert.Equal(keys.Select(k => (float)k), onnx["PredictedLabel.output"]);
        Assert.All(keys, k => Assert.InRange(k, 1u, 3u));
    }

    [Fact]
    public void ImagesWithNaNOrInfinitePixelsGetNoClassAsInTheLibrary()
    {
        var chain = new TransformerChain<ITransformer>(_trained.Scoring.Take(3).ToArray());
        byte[] model = OnnxRuntimeScorer.Export(_trained.Ml, chain, _trained.Data);
        var rows = _trained.Images.Take(4).Select(r => new ImageRow { Features = (float[])r.Features.Clone() }).ToArray();
        rows[1].Features[100] = float.NaN;
        rows[3].Features[5] = float.PositiveInfinity;
        var (scores, keys) = OnnxRuntimeScorer.LibraryScores(chain.Transform(_trained.Ml.Data.LoadFromEnumerable(rows)));

        var onnx = OnnxRuntimeScorer.Score(model, "Features", rows.SelectMany(r => r.Features).ToArray(),
            [rows.Length, 1, Size, Size], "Score.output", "PredictedLabel.output", "Embedding.output");

        Assert.Equal([keys[0], 0u, keys[2], 0u], keys);
        Assert.Equal(keys.Select(k => (float)k), onnx["PredictedLabel.output"]);
        Assert.Equal(scores.Select(float.IsNaN), onnx["Score.output"].Select(float.IsNaN));
        Assert.All(onnx["Score.output"].Skip(3).Take(3).Concat(onnx["Score.output"].Skip(9)), v => Assert.True(float.IsNaN(v)));
        int embedding = onnx["Embedding.output"].Length / rows.Length;
        Assert.All(onnx["Embedding.output"].Skip(embedding).Take(embedding), v => Assert.True(float.IsNaN(v)));
        Assert.DoesNotContain(onnx["Embedding.output"].Take(embedding), float.IsNaN);
    }

    [Fact]
    public void ApplyOnnxModelRunsTheExportedFileInAnMlNetPipeline()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("model.onnx");
        File.WriteAllBytes(path, _trained.Onnx);
        var rows = _trained.Images.Take(50).ToArray();
        var data = _trained.Ml.Data.LoadFromEnumerable(rows);

        var onnxModel = _trained.Ml.Transforms.ApplyOnnxModel(["Score.output", "PredictedLabel.output"], ["Features"], path).Fit(data);
        var transformed = onnxModel.Transform(data);
        var fromOnnx = _trained.Ml.Data.CreateEnumerable<OnnxScoredRow>(transformed, reuseRowObject: false).ToArray();
        var expected = _trained.Ml.Data.CreateEnumerable<ScoredRow>(_trained.Scoring.Transform(data), reuseRowObject: false).ToArray();

        Assert.Equal(expected.Select(r => r.PredictedLabel), fromOnnx.Select(r => r.PredictedLabel.Single()));
        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(expected.SelectMany(r => r.Score).ToArray(),
            fromOnnx.SelectMany(r => r.Score).ToArray()) <= 1e-4f);
    }

    [OnnxCheckerFact]
    public void OnnxCheckerAcceptsTheFileAtIrVersion6AndOpset12()
    {
        using var temp = new TempFolder();
        string path = temp.Combine("model.onnx");
        File.WriteAllBytes(path, _trained.Onnx);

        Assert.Equal("ir 6 opsets [('ai.onnx', 12), ('ai.onnx.ml', 2)]", OnnxRuntimeScorer.Check(path));
    }

    [Fact]
    public void OpsetBelowElevenIsRefused()
    {
        using var stream = new MemoryStream();

        var error = Assert.ThrowsAny<ArgumentException>(() => _trained.Ml.Model.ConvertToOnnx(_trained.Scoring, _trained.Data, 10, stream));

        Assert.Contains("MlNetCnn", error.Message);
    }

    private static string[] OnnxLabels(byte[] model, float[] pixels)
    {
        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(model);
        using var input = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(pixels, [pixels.Length / (Size * Size), 1, Size, Size]);
        using var runOptions = new Microsoft.ML.OnnxRuntime.RunOptions();
        using var results = session.Run(runOptions, ["Features"], [input], ["PredictedLabel.output"]);
        return results[0].GetStringTensorAsArray();
    }

    private sealed class ScoredRow
    {
        public float[] Score { get; set; } = [];

        public string PredictedLabel { get; set; } = "";

        public float[] Embedding { get; set; } = [];
    }

    // ApplyOnnxModel names its columns after the graph outputs without the converter's ".output" suffix.
    private sealed class OnnxScoredRow
    {
        public float[] Score { get; set; } = [];

        public string[] PredictedLabel { get; set; } = [];
    }
}
