using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class TwoBranchTests
{
    private sealed class PairRow
    {
        [VectorType(1, 16, 16)]
        public float[] Left { get; set; } = [];

        [VectorType(1, 16, 16)]
        public float[] Right { get; set; } = [];

        public string Label { get; set; } = "";
    }

    /// <summary>Four classes: whether the left image's bright band is at the top or bottom, times the same for the right image.</summary>
    private static List<PairRow> Pairs(int count, int seed)
    {
        var random = new Random(seed);
        float[] Image(bool top)
        {
            var pixels = new float[256];
            for (int p = 0; p < 256; p++)
                pixels[p] = (float)random.NextDouble() * 0.4f + ((p / 16 < 8) == top ? 0.6f : 0f);
            return pixels;
        }
        return Enumerable.Range(0, count)
            .Select(i =>
                new PairRow { Left = Image(i % 2 == 0), Right = Image(i / 2 % 2 == 0), Label = $"{i % 2}{i / 2 % 2}" })
                .ToList();
    }

    [Fact]
    public void TrainsFromTwoImageColumnsThatNeedEachOther()
    {
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(Pairs(160, 1));
        var test = ml.Data.LoadFromEnumerable(Pairs(40, 2));
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.Concatenate("Features", "Left", "Right"))
            .Append(new CnnTrainer(ml,
                new CnnTrainerOptions { Architecture = CnnArchitecture.TwoBranch, ImageHeight = 16, ImageWidth = 16,
                    Epochs = 4, BatchSize = 16, Seed = 3, NumberOfThreads = 1 }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

        var model = pipeline.Fit(train);

        var cnn = model.OfType<CnnTransformer>().Single();
        Assert.Equal(new ImageShape(2, 16, 16), cnn.InputShape);
        Assert.Contains("branch2.0.weight", cnn.Network.Module.state_dict().Keys);
        // Per branch: convs 288 + 9,216 + 18,432 + 36,864 (no bias) and batch norms 64 + 64 + 128 + 128; head 128×4 + 4.
        Assert.Equal(130_884, cnn.Network.Module.parameters().Sum(p => p.numel()));
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
        // Each image alone decides only half the label: a network seeing one input could not pass 0.5.
        Assert.True(metrics.MicroAccuracy > 0.9, $"accuracy {metrics.MicroAccuracy}");
    }

    [Fact]
    public void OneChannelCannotBeSplitIntoTwoImages()
    {
        var error = Assert.Throws<ArgumentException>(() => CnnArchitecture.TwoBranch.CreateModule(1, 16, 16, 2));
        Assert.Contains("both images", error.Message);
    }
}
