using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// DenseNet-BC (Huang et al., 2016) in torchvision's layout: <c>features</c> holds the stem
/// (<c>conv0</c>, <c>norm0</c>, <c>relu0</c>, <c>pool0</c>), dense blocks <c>denseblockK</c> whose layers
/// <c>denselayerN</c> (<c>norm1/relu1/conv1</c> 1×1 bottleneck to 4×growth, <c>norm2/relu2/conv2</c> 3×3 to growth) each see
/// the concatenation of all earlier outputs, transitions <c>transitionK</c> (<c>norm/relu/conv/pool</c>, halving channels
/// and resolution) and <c>norm5</c>; then ReLU, global average pooling and <c>classifier</c>.
/// The defaults are DenseNet-121 (growth 32, blocks 6-12-24-16, 64 initial features).
/// <para>
/// With <c>cifarStem</c> the stem is a single 3×3 stride-1 <c>conv0</c> (no norm, ReLU or pooling: each dense layer
/// starts with its own), so 32×32 images keep their resolution until the first transition.
/// </para>
/// Initialization as torchvision: Kaiming-normal convolutions, batch norms at 1 and 0, classifier bias 0.
/// </summary>
public sealed class DenseNet : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Sequential features;
    private readonly Linear classifier;

    /// <summary>Builds a DenseNet.</summary>
    /// <param name="channels">Input channels (1 or 3).</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="growthRate">Channels each dense layer adds.</param>
    /// <param name="blockConfig">Dense layers per block; null for DenseNet-121's 6, 12, 24, 16.</param>
    /// <param name="initialFeatures">Channels of the stem convolution.</param>
    /// <param name="cifarStem">True for the small-image stem described above.</param>
    public DenseNet(int channels, int numClasses, int growthRate = 32, IReadOnlyList<int>? blockConfig = null,
        int initialFeatures = 64, bool cifarStem = false)
        : base(nameof(DenseNet))
    {
        blockConfig ??= [6, 12, 24, 16];
        features = cifarStem
            ? Sequential(("conv0", Layers.ConvBeforeNorm(channels, initialFeatures, 3, padding: 1)))
            : Sequential(
                ("conv0", Layers.ConvBeforeNorm(channels, initialFeatures, 7, stride: 2, padding: 3)),
                ("norm0", BatchNorm2d(initialFeatures)), ("relu0", ReLU()),
                ("pool0", MaxPool2d(3, stride: 2, padding: 1)));
        int numFeatures = initialFeatures;
        for (int i = 0; i < blockConfig.Count; i++)
        {
            features.append($"denseblock{i + 1}", new DenseBlock(blockConfig[i], numFeatures, growthRate));
            numFeatures += blockConfig[i] * growthRate;
            if (i == blockConfig.Count - 1)
                break;
            features.append($"transition{i + 1}", Sequential(
                ("norm", BatchNorm2d(numFeatures)), ("relu", ReLU()),
                ("conv", Layers.ConvBeforeNorm(numFeatures, numFeatures / 2, 1)),
                ("pool", AvgPool2d(2, stride: 2))));
            numFeatures /= 2;
        }
        features.append("norm5", BatchNorm2d(numFeatures));
        classifier = Linear(numFeatures, numClasses);
        RegisterComponents();
        WeightInit.Apply(this, WeightInit.KaimingFanIn, l => WeightInit.ZeroBias(l.bias));
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var pooled = functional.adaptive_avg_pool2d(functional.relu(features.call(input)), 1);
        return classifier.call(pooled.flatten(1)).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var pooled = writer.AdaptiveAvgPool(writer.Relu(writer.Call("features", features, input)), [1]);
        return writer.Call("classifier", classifier, writer.Flatten(pooled));
    }
}

/// <summary>A dense block: <c>denselayer1</c>..N, each fed the concatenation of the block input and all earlier layer outputs.</summary>
internal sealed class DenseBlock : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly List<DenseLayer> _layers = [];

    public DenseBlock(int layerCount, int inChannels, int growthRate) : base(nameof(DenseBlock))
    {
        for (int i = 0; i < layerCount; i++)
        {
            var layer = new DenseLayer(inChannels + i * growthRate, growthRate);
            _layers.Add(layer);
            register_module($"denselayer{i + 1}", layer);
        }
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var features = new List<Tensor>(_layers.Count + 1) { input };
        foreach (var layer in _layers)
            features.Add(layer.call(cat(features, 1)));
        return cat(features, 1).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var features = new List<OnnxValue> { input };
        for (int i = 0; i < _layers.Count; i++)
            features.Add(writer.Call($"denselayer{i + 1}", _layers[i], features.Count == 1 ? input : writer.ConcatChannels(features)));
        return writer.ConcatChannels(features);
    }
}

/// <summary>BN-ReLU-conv 1×1 to 4×growth (the "B" bottleneck), then BN-ReLU-conv 3×3 to growth channels.</summary>
internal sealed class DenseLayer : Module<Tensor, Tensor>, IOnnxModule
{
    private const int BottleneckWidth = 4;

    private readonly BatchNorm2d norm1;
    private readonly ReLU relu1;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d norm2;
    private readonly ReLU relu2;
    private readonly Conv2d conv2;

    public DenseLayer(int inChannels, int growthRate) : base(nameof(DenseLayer))
    {
        norm1 = BatchNorm2d(inChannels);
        relu1 = ReLU();
        conv1 = Layers.ConvBeforeNorm(inChannels, BottleneckWidth * growthRate, 1);
        norm2 = BatchNorm2d(BottleneckWidth * growthRate);
        relu2 = ReLU();
        conv2 = Layers.ConvBeforeNorm(BottleneckWidth * growthRate, growthRate, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var bottleneck = conv1.call(relu1.call(norm1.call(input)));
        return conv2.call(relu2.call(norm2.call(bottleneck))).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var bottleneck = writer.Call("conv1", conv1, writer.Call("relu1", relu1, writer.Call("norm1", norm1, input)));
        return writer.Call("conv2", conv2, writer.Call("relu2", relu2, writer.Call("norm2", norm2, bottleneck)));
    }
}

// DenseNetCifar: DenseNet-121's blocks with growth 16 (32 initial features). The usual CIFAR growth of 12 (and 8 or 20)
// made libtorch's multithreaded CPU backward return run-to-run different gradients and NaNs on these layer shapes;
// growth 16 is stable.
internal sealed class DenseNetArchitecture(bool cifar) : BuiltInArchitecture(
    cifar ? "DenseNetCifar" : "DenseNet121",
    // Total stride 32 (stem 4, three transitions); the CIFAR stem leaves the three transitions: 8.
    cifar ? 8 : 32,
    cifar ? null
    : "Use CnnArchitecture.DenseNetCifar for small images such as 28×28 or 32×32, or resize them (ResizeImages) to at "
    + "least that size.")
{
    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => cifar
            ? new DenseNet(channels, numClasses, growthRate: 16, initialFeatures: 32, cifarStem: true)
            : new DenseNet(channels, numClasses);
}
