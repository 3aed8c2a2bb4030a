using System.Globalization;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using Xunit.Abstractions;

namespace MlNetCnn.Tests;

/// <summary>
/// A model saved before the move to ML.NET 6 (ML.NET 5.0.1 with SkiaSharp 2.88.9, CNN record format 5; how it was
/// made: <c>TestData/Format5Model/README.md</c>) still loads and predicts what it predicted then. Its pipeline resizes
/// the 28×28 digits to 24×24, and ML.NET 6 resamples with SkiaSharp 3, so pixels and scores move a little: the bounds
/// below are the differences measured on these 10 digits (22/255 and 0.0181) with room for SkiaSharp's per-CPU code.
/// </summary>
public sealed class Format5ModelTests(ITestOutputHelper output)
{
    private const int PixelTolerance = 24;

    private const float ScoreTolerance = 0.025f;

    private static string Folder => Path.Combine(AppContext.BaseDirectory, "TestData", "Format5Model");

    private sealed class Input
    {
        public string ImagePath { get; set; } = "";

        public string Label { get; set; } = "";
    }

    private sealed class Prediction
    {
        public string PredictedLabel { get; set; } = "";
    }

    private sealed record Expected(string Image, string Label, float[] Scores, int[] Pixels);

    private static List<Expected> ReadExpected()
        => File.ReadLines(Path.Combine(Folder, "expected.tsv")).Where(l => !l.StartsWith('#'))
            .Select(l => l.Split('\t'))
            .Select(f => new Expected(f[0], f[1],
                f[2].Split(' ').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray(),
                f[3].Split(' ').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray()))
            .ToList();

    [Fact]
    public void TheFileIsWhatItClaims()
    {
        string model = Path.Combine(Folder, "model.zip");
        using var zip = ZipFile.OpenRead(model);
        using var version = new StreamReader(zip.GetEntry("TrainingInfo/Version.txt")!.Open());
        Assert.StartsWith("5.0.1+", version.ReadToEnd(), StringComparison.Ordinal);
        Assert.Equal(5, BitConverter.ToInt32(ModelFileEditor.ReadEntry(model), 4));
    }

    [Fact]
    public void AModelSavedWithMlNet5LoadsAndPredictsAsItDidThen()
    {
        var expected = ReadExpected();
        Assert.Equal(10, expected.Count);
        var ml = new MLContext();
        var model = ml.Model.LoadCnnModel(Path.Combine(Folder, "model.zip"), out _);
        using var disposeModel = (IDisposable)model;
        var rows = expected.Select(e => new Input { ImagePath = Path.Combine(Folder, "images", e.Image) }).ToList();
        var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
        // GetColumn reuses one buffer for every row: each row's values are copied.
        var pixels = scored.GetColumn<VBuffer<float>>("Features").Select(v => v.DenseValues().ToArray()).ToList();
        var scores = scored.GetColumn<VBuffer<float>>("Score").Select(v => v.DenseValues().ToArray()).ToList();
        var labels = scored.GetColumn<ReadOnlyMemory<char>>("PredictedLabel").Select(l => l.ToString()).ToList();

        Assert.Equal(expected.Select(e => e.Label), labels);
        using var engine = ml.Model.CreatePredictionEngine<Input, Prediction>(model);
        Assert.Equal(expected.Select(e => e.Label), rows.Select(r => engine.Predict(r).PredictedLabel));

        int pixelDifference = expected
            .Select((e, i) => e.Pixels.Zip(pixels[i], (p, v) => Math.Abs(p - (int)MathF.Round(v * 255))).Max()).Max();
        float scoreDifference = expected.Select((e, i) => e.Scores.Zip(scores[i], (p, s) => Math.Abs(p - s)).Max())
            .Max();
        output.WriteLine($"max |Δ| ExtractPixels {pixelDifference}/255, scores {scoreDifference:F4}");
        Assert.True(pixelDifference <= PixelTolerance, $"pixels {pixelDifference}/255 apart from ML.NET 5.0.1's");
        Assert.True(scoreDifference <= ScoreTolerance, $"scores {scoreDifference} apart from ML.NET 5.0.1's");
    }
}
