using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class ImageNormalizationTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class ColourRow
    {
        [VectorType(3, 2, 2)]
        public float[] Pixels { get; set; } = [];
    }

    private static IDataView ColourData(MLContext ml) => ml.Data.LoadFromEnumerable(new[]
    {
        // channel 0: 1,2,3,4 | 5,6,7,8; channel 1 constant 10; channel 2: 0 and 2 alternating
        new ColourRow { Pixels = [1, 2, 3, 4, 10, 10, 10, 10, 0, 2, 0, 2] },
        new ColourRow { Pixels = [5, 6, 7, 8, 10, 10, 10, 10, 2, 0, 2, 0] },
    });

    [Fact]
    public void FitsPerChannelMeanAndStandardDeviation()
    {
        var ml = new MLContext();
        var transformer = ml.Transforms.NormalizeImages("Normalized", "Pixels").Fit(ColourData(ml));
        Assert.Equal([4.5f, 10f, 1f], transformer.Mean);
        Assert.Equal(Math.Sqrt(5.25), transformer.StandardDeviation[0], 5);
        Assert.Equal(1f, transformer.StandardDeviation[1]); // a constant channel divides by 1
        Assert.Equal(1f, transformer.StandardDeviation[2], 5);
        Assert.Equal(new ImageShape(3, 2, 2), transformer.Shape);
    }

    [Fact]
    public void AppliesGivenValuesAndSurvivesSaveAndLoad()
    {
        var ml = new MLContext();
        var data = ColourData(ml);
        var transformer = ml.Transforms.NormalizeImages("Pixels", mean: [1f, 10f, 1f], standardDeviation: [2f, 1f, 0.5f]).Fit(data);
        float[] first = ml.Data.CreateEnumerable<ColourRow>(transformer.Transform(data), reuseRowObject: false).First().Pixels;
        Assert.Equal([0f, 0.5f, 1f, 1.5f, 0, 0, 0, 0, -2, 2, -2, 2], first);

        string path = _temp.Combine("normalizer.zip");
        ml.Model.Save(transformer, data.Schema, path);
        var loaded = new MLContext().Model.Load(path, out _);
        Assert.IsType<ImageNormalizingTransformer>(loaded);
        Assert.Equal(first, ml.Data.CreateEnumerable<ColourRow>(loaded.Transform(data), reuseRowObject: false).First().Pixels);
        var engine = ml.Model.CreatePredictionEngine<ColourRow, ColourRow>(loaded);
        Assert.Equal(first, engine.Predict(new ColourRow { Pixels = [1, 2, 3, 4, 10, 10, 10, 10, 0, 2, 0, 2] }).Pixels);
    }

    [Fact]
    public void WrongNumberOfValuesIsRejectedWithTheShape()
    {
        var ml = new MLContext();
        var error =
            Assert.Throws<ArgumentException>(() =>
                ml.Transforms.NormalizeImages("Pixels", mean: [0.5f], standardDeviation: [0.2f]).Fit(ColourData(ml)));
        Assert.Contains("3×2×2", error.Message);
        Assert.ThrowsAny<ArgumentException>(() => ml.Transforms.NormalizeImages("Out", "Missing").Fit(ColourData(ml)));
    }
}
