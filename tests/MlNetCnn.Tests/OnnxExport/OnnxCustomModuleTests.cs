using Microsoft.ML;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Tests;

/// <summary>
/// Custom networks (<see cref="CnnArchitecture.Custom"/>) export when built from supported layers; anything else fails
/// with a <see cref="NotSupportedException"/> that names the layer.
/// </summary>
public sealed class OnnxCustomModuleTests
{
    private static readonly ImageShape Shape = new(3, 16, 16);

    [Fact]
    public void SequentialOfSupportedLayersExports()
    {
        var architecture = CnnArchitecture.Custom("OnnxCustomSequential", (c, h, w, k) => Sequential(
            ("conv", Conv2d(c, 8, 3, padding: 1)), ("norm", BatchNorm2d(8)), ("relu", ReLU()),
            ("pool", MaxPool2d(2)), ("conv2", Conv2d(8, 8, 3, stride: 2, padding: 1, bias: false)), ("avg", AvgPool2d(2)),
            ("adaptive", AdaptiveAvgPool2d(3)), ("drop", Dropout(0.3)), ("flatten", Flatten()), ("fc", Linear(72, k))));

        AssertOnnxMatches(architecture);
    }

    [Fact]
    public void ModuleWhoseForwardChainsItsLayersExports()
    {
        // A tutorial-style module: its own forward, flattening between the convolutions and the classifier.
        AssertOnnxMatches(CnnArchitecture.Custom("OnnxCustomChain", (c, h, w, k) => new ChainNet(c, h * w, k)));
    }

    [Fact]
    public void UnsupportedLayerThrowsNamingIt()
    {
        var architecture = CnnArchitecture.Custom("OnnxCustomSoftplus", (c, h, w, k) => Sequential(
            ("flatten", Flatten()), ("hidden", Linear(c * h * w, 16)), ("softplus", Softplus()), ("fc", Linear(16, k))));

        var error = Assert.Throws<NotSupportedException>(() => Export(architecture));

        Assert.Contains("'softplus'", error.Message);
        Assert.Contains("Softplus", error.Message);
    }

    [Fact]
    public void ForwardThatIsNotAChainOfLayersThrowsNamingTheModule()
    {
        var error =
            Assert.Throws<NotSupportedException>(() =>
                Export(CnnArchitecture.Custom("OnnxCustomFunctional", (c, h, w, k) => new FunctionalNet(c, h * w, k))));

        Assert.Contains(nameof(FunctionalNet), error.Message);
        Assert.Contains("functional", error.Message);
    }

    private static void AssertOnnxMatches(CnnArchitecture architecture)
    {
        var ml = new MLContext(seed: 1);
        using var transformer = OnnxArchitectureTests.RandomTransformer(architecture, Shape, seed: 5);
        var (images, data) = OnnxArchitectureTests.RandomImages(ml, Shape, 16, seed: 6);
        var (scores, labels) = OnnxRuntimeScorer.LibraryScores(transformer.Transform(data));

        var onnx = OnnxRuntimeScorer.Score(OnnxRuntimeScorer.Export(ml, transformer, data), "Features", images,
            [16, Shape.Channels, Shape.Height, Shape.Width], "Score.output", "PredictedLabel.output");

        Assert.True(OnnxRuntimeScorer.MaxAbsoluteDifference(scores, onnx["Score.output"]) <= 1e-4f);
        OnnxArchitectureTests.AssertSameLabels(scores, labels, onnx["PredictedLabel.output"]);
    }

    private static void Export(CnnArchitecture architecture)
    {
        var ml = new MLContext(seed: 1);
        using var transformer = OnnxArchitectureTests.RandomTransformer(architecture, Shape, seed: 5);
        OnnxRuntimeScorer.Export(ml, transformer, OnnxArchitectureTests.RandomImages(ml, Shape, 2, seed: 6).Data);
    }

    private sealed class ChainNet : Module<Tensor, Tensor>
    {
        private readonly Conv2d conv;
        private readonly ReLU relu;
        private readonly Linear fc;

        public ChainNet(int channels, int pixels, int classes) : base(nameof(ChainNet))
        {
            conv = Conv2d(channels, 4, 3, padding: 1);
            relu = ReLU();
            fc = Linear(4 * pixels, classes);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => fc.call(relu.call(conv.call(input)).flatten(1));
    }

    private sealed class FunctionalNet : Module<Tensor, Tensor>
    {
        private readonly Conv2d conv;
        private readonly Linear fc;

        public FunctionalNet(int channels, int pixels, int classes) : base(nameof(FunctionalNet))
        {
            conv = Conv2d(channels, 4, 3, padding: 1);
            fc = Linear(4 * pixels, classes);
            RegisterComponents();
        }

        // functional.tanh between the layers: the chain of conv and fc alone computes something else.
        public override Tensor forward(Tensor input) => fc.call(functional.tanh(conv.call(input)).flatten(1));
    }
}
