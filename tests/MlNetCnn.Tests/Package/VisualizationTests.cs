using System.Buffers.Binary;
using Microsoft.ML;
using MlNetCnn.Visualization;
using ScottPlot;

namespace MlNetCnn.Tests;

public sealed class VisualizationTests(TrainedModelFixture fixture) : IClassFixture<TrainedModelFixture>
{
    /// <summary>Checks the PNG signature and returns the width and height from the IHDR chunk.</summary>
    internal static (int Width, int Height) PngSize(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 33, $"{path} is too small to be a PNG");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
    }

    private string Output(string name) => fixture.NewPath(name);

    [Fact]
    public void TrainingCurvesAreAPngOfTheRequestedSize()
    {
        var history = new[]
        {
            new EpochSummary(1, 1.2, 0.6, 1.1, 0.62, 3e-3, TimeSpan.FromSeconds(3), 900),
            new EpochSummary(2, 0.6, 0.8, 0.7, 0.78, 2e-3, TimeSpan.FromSeconds(3), 950),
            new EpochSummary(3, 0.3, 0.9, 0.5, 0.85, 1e-3, TimeSpan.FromSeconds(3), 960),
        };
        string path = Output("curves.png");
        TrainingCurves.SavePng(history, path, 900, 360);
        Assert.Equal((900, 360), PngSize(path));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, ".*.png"));
        Assert.Throws<ArgumentException>(() => TrainingCurves.SavePng([], Output("empty.png")));
    }

    [Fact]
    public void ConfusionMatrixAndSampleGridDrawATrainedModel()
    {
        var scored = fixture.Model.Transform(fixture.Test);
        var metrics = fixture.Ml.MulticlassClassification.Evaluate(scored);
        var cnn =
            ((Microsoft.ML.Data.TransformerChain<Microsoft.ML.Transforms.KeyToValueMappingTransformer>)fixture.Model)
            .OfType<CnnTransformer>().Single();

        string matrixPath = Output("confusion.png");
        ConfusionMatrixPlot.SavePng(metrics.ConfusionMatrix, matrixPath, cnn.ClassNames, size: 500);
        Assert.Equal((500, 500), PngSize(matrixPath));
        Assert.Throws<ArgumentException>(() => ConfusionMatrixPlot.SavePng(metrics.ConfusionMatrix, Output("bad.png"), ["just one name"]));

        var samples = SampleGrid.FromScoredData(scored, count: 10);
        Assert.Equal(10, samples.Count);
        Assert.All(samples, s => Assert.Contains(s.TrueLabel, cnn.ClassNames));
        Assert.All(samples, s => Assert.Contains(s.PredictedLabel, cnn.ClassNames));
        string gridPath = Output("grid.png");
        SampleGrid.SavePng(samples, gridPath, columns: 5, cellSize: 100);
        Assert.Equal((500, 200), PngSize(gridPath));
    }

    [Fact]
    public void SampleGridShowsEveryClassWhenTheDataIsSortedByClass()
    {
        // The test folder lists 8 images of each of 3 classes in class order; 4 images used to be 2 + 2 of the first two classes.
        var scored = fixture.Model.Transform(fixture.Test);

        var four = SampleGrid.FromScoredData(scored, count: 4);
        var seven = SampleGrid.FromScoredData(scored, count: 7);

        Assert.Equal(4, four.Count);
        Assert.Equal(3, four.Select(s => s.TrueLabel).Distinct().Count());
        Assert.Equal(7, seven.Count);
        Assert.Equal([3, 2, 2], seven.GroupBy(s => s.TrueLabel).Select(g => g.Count()));
        var labels = seven.Select(s => s.TrueLabel).ToList();
        Assert.Equal(labels, labels.OrderBy(labels.IndexOf)); // grouped by class
        Assert.Equal(24, SampleGrid.FromScoredData(scored, count: 100).Count);
    }

    [Theory]
    [InlineData(1, 1, new double[] { 1 })]
    [InlineData(1, 3, new double[] { 1, 2, 3 })]
    [InlineData(1, 11, new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 })]
    [InlineData(1, 15, new double[] { 1, 2, 4, 6, 8, 10, 12, 14 })]
    [InlineData(1, 50, new double[] { 1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50 })]
    [InlineData(4, 9, new double[] { 4, 5, 6, 7, 8, 9 })]
    public void TrainingCurvesTickWholeEpochsOnly(int first, int last, double[] expected)
        => Assert.Equal(expected, TrainingCurves.EpochTicks(first, last));

    [Fact]
    public void TrainingCurvesOfThreeEpochsHaveTicksAtOneTwoThree()
    {
        var history = Enumerable.Range(1, 3)
            .Select(e => new EpochSummary(e, 1.0 / e, 0.5 + e / 10.0, null, null, 1e-3, TimeSpan.FromSeconds(1), 100))
            .ToList();
        var figure = TrainingCurves.Figure(history);
        figure.Render(600, 300);
        for (int i = 0; i < 2; i++)
        {
            var ticks = figure.GetPlot(i).Axes.Bottom.TickGenerator.Ticks.Where(t => t.IsMajor).Select(t => t.Position);
            Assert.Equal([1.0, 2.0, 3.0], ticks);
        }
    }
}
