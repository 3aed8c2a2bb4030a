using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>CnnTrainerOptions.PatchWhitening: the first convolution whitens the training images' patches and stays fixed.</summary>
public sealed class PatchWhiteningTests
{
    private const int Size = 12;

    public sealed class Row
    {
        [VectorType(3, Size, Size)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }

    // Correlated channels and smooth images: raw patches are far from white.
    private static List<Row> Rows(int count, int seed)
    {
        var random = new Random(seed);
        var rows = new List<Row>();
        for (int i = 0; i < count; i++)
        {
            var pixels = new float[3 * Size * Size];
            float offset = (float)random.NextDouble();
            for (int y = 0; y < Size; y++)
            {
                for (int x = 0; x < Size; x++)
                {
                    float value = offset + 0.1f * x + (float)random.NextDouble() * 0.5f;
                    for (int c = 0; c < 3; c++)
                        pixels[(c * Size + y) * Size + x] = value * (c + 1) + (float)random.NextDouble() * 0.5f;
                }
            }
            rows.Add(new Row { Features = pixels, Label = $"c{i % 2}" });
        }
        return rows;
    }

    private static IDataView Data(MLContext ml, List<Row> rows)
        => ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));

    private static CnnTrainerOptions Options() => new()
    {
        Architecture = CnnArchitecture.AirbenchNet(4), Epochs = 1, BatchSize = 32, Seed = 5, NumberOfThreads = 1,
        PatchWhitening = true, Optimizer = CnnOptimizer.Sgd, LearningRate = 0.05,
    };

    [Fact]
    public void TheFirstConvolutionDecorrelatesTheTrainingPatchesAndStaysFixed()
    {
        var ml = new MLContext(seed: 1);
        var rows = Rows(200, 1);
        using var model = new CnnTrainer(ml, Options()).Fit(Data(ml, rows));
        var whiten = (Conv2d)model.Network.Module.named_modules().First(m => m.name == "whiten").module;

        using var scope = NewDisposeScope();
        // The standardized images the network saw; the first 12 filters' responses (without bias) over every 2×2 patch.
        var images = tensor(rows.SelectMany(r => r.Features).ToArray()).reshape(rows.Count, 3, Size, Size);
        var mean = tensor(model.InputMean.ToArray()).reshape(1, 3, 1, 1);
        var std = tensor(model.InputStandardDeviation.ToArray()).reshape(1, 3, 1, 1);
        var responses = nn.functional.conv2d((images - mean) / std, whiten.weight!.narrow(0, 0, 12));
        var flat = responses.permute(0, 2, 3, 1).reshape(-1, 12).to_type(ScalarType.Float64);
        var covariance = flat.t().matmul(flat) / flat.shape[0];
        // Whitened: no correlation, and unit variance (less λ / (λ + 5e-4), a few percent here, in the weakest directions).
        var offDiagonal = covariance - diag(covariance.diagonal());
        Assert.True(offDiagonal.abs().max().item<double>() < 1e-4, covariance.ToString(TorchSharp.TensorStringStyle.Numpy));
        Assert.True((covariance.diagonal() - 1).abs().max().item<double>() < 0.1, covariance.diagonal().ToString(TorchSharp.TensorStringStyle.Numpy));
        Assert.True(covariance.diagonal()[0].item<double>() > 0.999);
        // The other 12 filters are the negatives, and training left the weights alone.
        Assert.True(whiten.weight!.narrow(0, 12, 12).eq(-whiten.weight.narrow(0, 0, 12)).all().item<bool>());
        Assert.False(whiten.weight.requires_grad);
    }

    [Fact]
    public void ANetworkWhoseFirstConvolutionIsTooNarrowIsRefusedWithTheLayerNamed()
    {
        var ml = new MLContext(seed: 1);
        var options = Options();
        // 8 filters of 3×3×3 patches (27 directions).
        options.Architecture = CnnArchitecture.Custom("PatchWhiteningTests.Narrow", (channels, height, width, classes) => nn.Sequential(
            ("stem", nn.Conv2d(channels, 8, 3)), ("flatten", nn.Flatten()), ("fc", nn.Linear(8 * (height - 2) * (width - 2), classes))));
        var error = Assert.Throws<ArgumentException>(() => new CnnTrainer(ml, options).Fit(Data(ml, Rows(40, 2))));
        Assert.Contains("PatchWhitening", error.Message);
        Assert.Contains("'stem'", error.Message);
        Assert.Contains("at least 27 filters", error.Message);
    }
}
