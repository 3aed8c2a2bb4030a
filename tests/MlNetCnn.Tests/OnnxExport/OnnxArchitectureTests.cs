using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// Every built-in architecture exports through ML.NET's converter and ONNX Runtime scores it as the library does. The
/// networks get random weights and random batch-norm statistics (so the normalization is really exercised) and a
/// random input standardization; scoring uses random images.
/// </summary>
public sealed class OnnxArchitectureTests
{
    private const int Classes = 10;

    public sealed class Row
    {
        public float[] Features { get; set; } = [];
    }

    // Architecture, channels, image size, images scored. The ImageNet VGGs differ from Vgg11 only in their convolution
    // lists, which Vgg13Cifar..Vgg19Cifar cover; their 102 M-parameter heads would add minutes for no new code path.
    public static TheoryData<string, int, int, int> Architectures => new()
    {
        { "LeNet5", 1, 28, 32 }, { "LeNet5", 3, 32, 32 }, { "TwoConvThreeFc", 3, 32, 32 }, { "CnnNFeature6", 1, 28, 32 },
        { "Mlp8", 1, 28, 32 }, { "TwoBranch", 2, 16, 32 }, { "AlexNetSmall", 3, 28, 16 }, { "AlexNet", 3, 63, 4 },
        { "Vgg11Cifar", 3, 32, 8 }, { "Vgg13Cifar", 3, 32, 4 }, { "Vgg16Cifar", 3, 32, 4 }, { "Vgg19Cifar", 3, 32, 4 },
        { "Vgg11", 3, 32, 2 }, { "NiN", 3, 67, 4 }, { "GoogLeNet", 3, 32, 4 },
        { "ResNet18", 3, 32, 8 }, { "ResNet34", 3, 32, 4 }, { "ResNet50", 3, 32, 4 },
        { "ResNet18Cifar", 3, 32, 4 }, { "ResNet34Cifar", 3, 32, 2 }, { "ResNet50Cifar", 3, 32, 2 },
        { "ResNet9-16", 3, 32, 8 }, { "DenseNet121", 3, 32, 4 }, { "DenseNetCifar", 3, 32, 2 }, { "AirbenchNet-8", 3, 32, 8 },
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void OnnxRuntimeScoresLikeTheLibrary(string name, int channels, int size, int count)
    {
        var ml = new MLContext(seed: 1);
        using var transformer = RandomTransformer(CnnArchitecture.FromName(name), new ImageShape(channels, size, size), seed: 3);
        var (images, data) = RandomImages(ml, transformer.InputShape, count, seed: 4);
        var (scores, labels) = OnnxRuntimeScorer.LibraryScores(transformer.Transform(data));

        byte[] model = OnnxRuntimeScorer.Export(ml, transformer, data);
        var onnx = OnnxRuntimeScorer.Score(model, "Features", images, [count, channels, size, size], "Score.output", "PredictedLabel.output");

        float difference = OnnxRuntimeScorer.MaxAbsoluteDifference(scores, onnx["Score.output"]);
        Assert.True(difference <= 1e-4f, $"{name}: max |ΔScore| {difference}");
        AssertSameLabels(scores, labels, onnx["PredictedLabel.output"]);
    }

    [Fact]
    public void AMeanImageExportsAsAnImageConstant()
    {
        var ml = new MLContext(seed: 1);
        var shape = new ImageShape(3, 32, 32);
        using var transformer = RandomTransformer(CnnArchitecture.ResNet18, shape, seed: 5, meanImage: true);
        var (images, data) = RandomImages(ml, shape, 4, seed: 6);
        var (scores, labels) = OnnxRuntimeScorer.LibraryScores(transformer.Transform(data));

        byte[] model = OnnxRuntimeScorer.Export(ml, transformer, data);
        var onnx = OnnxRuntimeScorer.Score(model, "Features", images, [4, 3, 32, 32], "Score.output", "PredictedLabel.output");

        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(scores, onnx["Score.output"]) <= 1e-4f);
        AssertSameLabels(scores, labels, onnx["PredictedLabel.output"]);
    }

    /// <summary>The same predicted class on every row; a different one only where the library's top two probabilities
    /// tie within float noise.</summary>
    internal static void AssertSameLabels(float[] scores, uint[] labels, float[] onnxLabels)
    {
        Assert.Equal(labels.Length, onnxLabels.Length);
        int classes = scores.Length / labels.Length;
        for (int row = 0; row < labels.Length; row++)
        {
            int expected = (int)labels[row] - 1, actual = (int)onnxLabels[row] - 1;
            if (expected != actual)
                Assert.True(Math.Abs(scores[row * classes + expected] - scores[row * classes + actual]) <= 1e-6f,
                    $"Row {row}: library class {expected}, ONNX Runtime {actual}.");
        }
    }

    /// <summary>A transformer around a randomly initialized network, with random batch-norm statistics and standardization.</summary>
    internal static CnnTransformer RandomTransformer(CnnArchitecture architecture, ImageShape shape, int seed,
        TestTimeAugmentation augmentation = TestTimeAugmentation.None, bool meanImage = false)
    {
        torch.manual_seed(seed);
        var module = architecture.CreateModule(shape.Channels, shape.Height, shape.Width, Classes);
        using (no_grad())
        {
            foreach (var norm in module.modules().OfType<BatchNorm2d>())
            {
                norm.running_mean!.copy_(randn(norm.num_features) * 0.2);
                norm.running_var!.copy_(rand(norm.num_features) + 0.5);
                norm.weight.copy_(rand(norm.num_features) + 0.5);
                norm.bias!.copy_(randn(norm.num_features) * 0.1);
            }
        }
        var random = new Random(seed);
        // A mean per channel, or a mean image (one value per pixel, as ML.NET's pretrained ResNet-18 subtracts).
        var standardization = new InputStandardization(
            Enumerable.Range(0, meanImage ? shape.Size : shape.Channels).Select(_ => (float)random.NextDouble() * 0.5f).ToArray(),
            Enumerable.Range(0, shape.Channels).Select(_ => 0.5f + (float)random.NextDouble()).ToArray(), shape);
        var network = new ScoringNetwork(architecture, module, standardization, shape, Classes, testTimeAugmentation: augmentation);
        return new CnnTransformer(architecture, network, "Features", null, [], scoringBatchSize: 64);
    }

    /// <summary>Random images in a Features column typed C×H×W, as ExtractPixels writes it.</summary>
    internal static (float[] Pixels, IDataView Data) RandomImages(MLContext ml, ImageShape shape, int count, int seed)
    {
        var random = new Random(seed);
        var rows = Enumerable.Range(0, count)
            .Select(_ =>
                new Row { Features = Enumerable.Range(0, shape.Size).Select(_ => (float)random.NextDouble())
                    .ToArray() }).ToArray();
        var definition = SchemaDefinition.Create(typeof(Row));
        definition["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, shape.Channels, shape.Height, shape.Width);
        return (rows.SelectMany(r => r.Features).ToArray(), ml.Data.LoadFromEnumerable(rows, definition));
    }
}
