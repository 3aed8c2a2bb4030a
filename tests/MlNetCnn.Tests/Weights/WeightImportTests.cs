using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

/// <summary>
/// <c>Epochs = 0</c> packages weights trained elsewhere (<see cref="CnnTrainerOptions.InitialWeights"/>) as a
/// transformer without training: it scores exactly as the network the weights came from.
/// </summary>
public sealed class WeightImportTests
{
    internal const int Size = 16;

    public sealed class ImageRow
    {
        [VectorType(3, Size, Size)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }

    internal static ImageRow[] Rows(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => new ImageRow
        {
            Features = Enumerable.Range(0, 3 * Size * Size)
                .Select(p => (float)random.NextDouble() * 0.3f + (p % Size == i % 4 * 4 ? 0.7f : 0f)).ToArray(),
            Label = SyntheticImages.ClassNames[i % 4],
        }).ToArray();
    }

    internal static IDataView Keyed(MLContext ml, IEnumerable<ImageRow> rows)
        => ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));

    [Fact]
    public void ZeroEpochsWithSavedWeightsScoresLikeTheSource()
    {
        using var temp = new TempFolder();
        var ml = new MLContext(seed: 1);
        var data = Keyed(ml, Rows(32, seed: 2));
        using var source = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 1, BatchSize = 16,
                StandardizeInputs = false }).Fit(data);
        string path = temp.Combine("weights.safetensors");
        source.SaveWeights(path);

        using var weights = PretrainedWeights.FromFile(path);
        using var imported = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 0, InitialWeights = weights,
                StandardizeInputs = false }).Fit(data);

        Assert.Empty(imported.TrainingHistory);
        var (expectedScores, expectedLabels) = OnnxRuntimeScorer.LibraryScores(source.Transform(data));
        var (scores, labels) = OnnxRuntimeScorer.LibraryScores(imported.Transform(data));
        Assert.Equal(expectedScores, scores);
        Assert.Equal(expectedLabels, labels);
    }

    [Fact]
    public void ZeroEpochsWithInitialModelScoresLikeIt()
    {
        var ml = new MLContext(seed: 1);
        var data = Keyed(ml, Rows(32, seed: 2));
        using var source = new CnnTrainer(ml, new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 1, BatchSize = 16 }).Fit(data);

        using var packaged = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 0, InitialModel = source })
            .Fit(data);

        Assert.Equal(OnnxRuntimeScorer.LibraryScores(source.Transform(data)).Scores,
            OnnxRuntimeScorer.LibraryScores(packaged.Transform(data)).Scores);
    }

    [Fact]
    public void ZeroEpochsWithoutWeightsIsRejected()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(new MLContext(), new CnnTrainerOptions { Epochs = 0 }));

        Assert.Contains("InitialWeights", error.Message);
    }

    [Fact]
    public void ZeroEpochsWithAnotherClassCountIsRejected()
    {
        using var temp = new TempFolder();
        var ml = new MLContext(seed: 1);
        using var source = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 1, BatchSize = 16 })
            .Fit(Keyed(ml, Rows(32, seed: 2)));
        string path = temp.Combine("weights.safetensors");
        source.SaveWeights(path);
        using var weights = PretrainedWeights.FromFile(path);
        var threeClasses = Keyed(ml, Rows(32, seed: 2).Where(r => r.Label != SyntheticImages.ClassNames[3]));

        var error =
            Assert.Throws<ArgumentException>(() =>
                new CnnTrainer(ml,
                    new CnnTrainerOptions { Architecture = CnnArchitecture.LeNet5, Epochs = 0,
                        InitialWeights = weights }).Fit(threeClasses));

        Assert.Contains("'classifier.4'", error.Message);
    }
}
