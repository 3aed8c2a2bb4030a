using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// NetworkCall: built-in networks get their batches in channels-last memory on the CPU and compute the same as on
/// planar batches; a user's network keeps planar batches, so its <c>view</c> calls keep working.
/// </summary>
public sealed class ChannelsLastInputTests
{
    public static TheoryData<string, int, int> BuiltIns => new()
    {
        { "LeNet5", 1, 32 }, { "TwoConvThreeFc", 3, 32 }, { "TwoBranch", 6, 32 }, { "AlexNetSmall", 3, 32 },
            { "Vgg11Cifar", 3, 32 }, { "NiN", 3, 67 }, { "GoogLeNet", 3, 32 },
        { "ResNet18Cifar", 3, 32 }, { "ResNet-2-2-2-3", 3, 64 }, { "ResNet9-8", 3, 32 }, { "AirbenchNet-8", 3, 32 },
        { "DenseNetCifar", 3, 32 }, { "CnnNFeature6", 1, 32 }, { "Mlp8", 3, 32 },
    };

    [Theory]
    [MemberData(nameof(BuiltIns))]
    public void ABuiltInNetworkGivesTheSameLogitsOnChannelsLastBatches(string name, int channels, int size)
    {
        var architecture = CnnArchitecture.FromName(name);
        using var module = architecture.CreateModule(channels, size, size, 10);
        using var scope = NewDisposeScope();
        var generator = new Generator(11);
        Reinitialize(module, generator);
        var images = randn([8, channels, size, size], generator: generator);
        var fast = NetworkCall.For(module, architecture, CPU);
        Assert.True(fast.ChannelsLast);
        var planar = new NetworkCall(module, channelsLast: false);
        using var noGrad = no_grad();
        module.eval();
        AssertClose(planar.Forward(images), fast.Forward(images), $"{name}'s logits in evaluation mode");
        // Training mode: batch norm normalizes by the batch's statistics (dropout, drawn at random, stays off).
        module.train();
        foreach (var (_, dropout) in module.named_modules().Where(m => m.module is TorchSharp.Modules.Dropout))
            dropout.eval();
        AssertClose(planar.Forward(images), fast.Forward(images), $"{name}'s logits in training mode");
    }

    // Float32 gradients are off from float64 by about 1e-6 relative in planar memory and 1.3 to 2.6 times that in
    // channels-last (another summation order). A max-pooling or ReLU input within rounding of a tie sends a gradient
    // elsewhere and moves them by 1e-4 to 1e-2, in either layout, at a few random seeds in 16 (VGG-style networks
    // and ResNets at 32×32): these networks showed no such tie at 13 seeds.
    [Theory]
    [InlineData("LeNet5", 1)]
    [InlineData("ResNet9-8", 3)]
    [InlineData("AirbenchNet-8", 3)]
    [InlineData("CnnNFeature6", 1)]
    public void ABuiltInNetworkGetsGradientsAsAccurateOnChannelsLastBatches(string name, int channels)
    {
        var architecture = CnnArchitecture.FromName(name);
        using var module = architecture.CreateModule(channels, 32, 32, 10);
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        Reinitialize(module, generator);
        var images = randn([8, channels, 32, 32], generator: generator);
        var labels = tensor(new long[] { 0, 3, 7, 9, 1, 2, 5, 8 });
        module.train();
        var planarGradients = Gradients(module, new NetworkCall(module, channelsLast: false), images, labels);
        var fastGradients = Gradients(module, NetworkCall.For(module, architecture, CPU), images, labels);
        module.to(ScalarType.Float64);
        var reference = Gradients(module, new NetworkCall(module, channelsLast: false), images.to(ScalarType.Float64), labels);
        double planarError = (planarGradients - reference).norm().item<double>(), fastError = (fastGradients - reference).norm().item<double>();
        double scale = reference.norm().item<double>();
        Assert.True(fastError <= 4 * planarError + 1e-6 * scale,
            $"{name}'s channels-last gradients are off by {fastError / scale:E2} relative to float64, planar ones by {planarError / scale:E2}");
    }

    [Fact]
    public void TheBatchReachesABuiltInNetworkInChannelsLastMemoryAndAUsersNetworkPlanar()
    {
        using var scope = NewDisposeScope();
        var images = randn(2, 3, 8, 8);
        var builtIn = CnnArchitecture.ResNet9(8);
        using var resNet = builtIn.CreateModule(3, 8, 8, 10);
        var seen = new List<long[]>();
        resNet.register_forward_pre_hook((_, input) =>
        {
            seen.Add(input.stride());
            return input;
        });
        resNet.eval();
        using (no_grad())
            NetworkCall.For(resNet, builtIn, CPU).Forward(images);
        // Channels-last: the channel is the innermost dimension in memory.
        Assert.Equal(new long[] { 8 * 8 * 3, 1, 8 * 3, 3 }, seen.Single());

        var custom = ViewingNetwork.Architecture;
        using var mine = custom.CreateModule(3, 8, 8, 10);
        Assert.False(NetworkCall.For(mine, custom, CPU).ChannelsLast);
        using (no_grad())
            NetworkCall.For(mine, custom, CPU).Forward(images);
        Assert.True(((ViewingNetwork)mine).SawPlanarInput);
    }

    [Fact]
    public void AUsersNetworkThatViewsAConvolutionsOutputTrainsAndScores()
    {
        var ml = new MLContext(seed: 1);
        var random = new Random(4);
        var rows = Enumerable.Range(0, 64).Select(i => new Row
        {
            Features = Enumerable.Range(0, 3 * 8 * 8).Select(_ => (float)random.NextDouble() + (i % 2)).ToArray(),
            Label = $"c{i % 2}",
        }).ToList();
        var data = ml.Transforms.Conversion.MapValueToKey("Label").Fit(ml.Data.LoadFromEnumerable(rows)).Transform(ml.Data.LoadFromEnumerable(rows));
        using var model = new CnnTrainer(ml, new CnnTrainerOptions
        {
            Architecture = ViewingNetwork.Architecture, Epochs = 2, BatchSize = 16, Seed = 2, NumberOfThreads = 1,
                TestTimeAugmentation = TestTimeAugmentation.HorizontalFlip,
        }).Fit(data);
        var accuracy = ml.MulticlassClassification.Evaluate(model.Transform(data)).MicroAccuracy;
        Assert.True(accuracy > 0.9, $"accuracy {accuracy} on two well-separated classes");
    }

    /// <summary>The gradients of every parameter the loss reaches, in one float64 vector.</summary>
    private static Tensor Gradients(nn.Module<Tensor, Tensor> module, NetworkCall network, Tensor images, Tensor labels)
    {
        module.zero_grad();
        nn.functional.cross_entropy(network.Forward(images), labels).backward();
        return cat(module.parameters().Where(p => p.grad is not null).Select(p => p.grad!.flatten().to(ScalarType.Float64)).ToList(), 0);
    }

    /// <summary>He-initialized weights from <paramref name="generator"/>: the same network whatever other tests draw
    /// from libtorch's global generator meanwhile.</summary>
    internal static void Reinitialize(nn.Module<Tensor, Tensor> module, Generator generator)
    {
        using var noGrad = no_grad();
        foreach (var (name, parameter) in module.named_parameters())
        {
            if (parameter.dim() > 1)
                parameter.copy_(randn(parameter.shape, generator: generator) * Math.Sqrt(2.0 / (parameter.numel() / parameter.shape[0])));
            else
                parameter.copy_(name.EndsWith("weight", StringComparison.Ordinal)
                    ? ones_like(parameter) + 0.1 * randn(parameter.shape, generator: generator)
                    : 0.1 * randn(parameter.shape, generator: generator));
        }
    }

    private static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        double scale = Math.Max(1e-3, expected.abs().max().item<float>());
        double difference = (expected - actual).abs().max().item<float>();
        Assert.True(difference <= 1e-4 * scale, $"{what} differ by {difference} (largest magnitude {scale})");
    }

    public sealed class Row
    {
        [VectorType(3, 8, 8)]
        public float[] Features { get; set; } = [];

        public string Label { get; set; } = "";
    }

    /// <summary>The classic PyTorch idiom <c>x.view(N, -1)</c> after a convolution, which needs planar memory.</summary>
    private sealed class ViewingNetwork : nn.Module<Tensor, Tensor>
    {
        public static readonly CnnArchitecture Architecture = CnnArchitecture.Custom("ChannelsLastTestsViewingNetwork",
            (c, h, w, k) => new ViewingNetwork(c, h, w, k));

        private readonly TorchSharp.Modules.Conv2d conv;
        private readonly TorchSharp.Modules.Linear fc;

        private ViewingNetwork(int channels, int height, int width, int classes) : base(nameof(ViewingNetwork))
        {
            conv = nn.Conv2d(channels, 4, 3, padding: 1);
            fc = nn.Linear(4 * height * width, classes);
            RegisterComponents();
        }

        public bool SawPlanarInput { get; private set; }

        public override Tensor forward(Tensor input)
        {
            SawPlanarInput = input.is_contiguous();
            var features = nn.functional.relu(conv.call(input));
            return fc.call(features.view(features.shape[0], -1));
        }
    }
}
