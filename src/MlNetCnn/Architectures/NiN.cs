using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// Network in Network (Lin et al., 2013) as d2l.ai builds it: four NiN blocks (a k×k convolution followed by two 1×1
/// convolutions, each with ReLU) separated by 3×3 stride-2 max-poolings, dropout before the last block, whose
/// 1×1 convolutions output one channel per class, and global average pooling instead of any fully connected layer.
/// Layers are d2l's <c>net.N</c> (blocks <c>net.0/2/4/7</c>, their convolutions <c>.0/.2/.4</c>), so a d2l state_dict loads.
/// Weights are Xavier-uniform, as d2l's <c>init_cnn</c>. Designed for 224×224 inputs (d2l resizes Fashion-MNIST to that).
/// </summary>
public sealed class NiN : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Sequential net;

    /// <summary>Builds NiN for <paramref name="channels"/>-channel images and <paramref name="numClasses"/> classes.</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="numClasses">Output classes.</param>
    public NiN(int channels, int numClasses) : base(nameof(NiN))
    {
        net = Layers.Indexed([
            Block(channels, 96, 11, stride: 4, padding: 0), MaxPool2d(3, stride: 2),
            Block(96, 256, 5, stride: 1, padding: 2), MaxPool2d(3, stride: 2),
            Block(256, 384, 3, stride: 1, padding: 1), MaxPool2d(3, stride: 2),
            Dropout(0.5),
            Block(384, numClasses, 3, stride: 1, padding: 1),
            AdaptiveAvgPool2d(1), Flatten()]);
        RegisterComponents();
        WeightInit.Apply(this, c => WeightInit.Xavier(c.weight), null);
    }

    /// <summary>One NiN block: the 1×1 convolutions act as a per-pixel fully connected layer across channels.</summary>
    private static Sequential Block(long inChannels, long outChannels, long kernel, long stride, long padding)
        => Layers.Indexed([
            Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding), ReLU(),
            Conv2d(outChannels, outChannels, 1), ReLU(),
            Conv2d(outChannels, outChannels, 1), ReLU()]);

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => net.call(input);

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input) => writer.Call("net", net, input);
}

internal sealed class NiNArchitecture() : BuiltInArchitecture(
    "NiN",
    // 11×11 stride 4 then three 3×3 stride-2 poolings need 67 pixels.
    67,
    "Resize the images (ResizeImages) to at least that size (d2l trains NiN on Fashion-MNIST resized to 224×224), or "
    + "use a small-input network such as CnnArchitecture.AlexNetSmall or CnnArchitecture.ResNet18Cifar.")
{
    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new NiN(channels, numClasses);
}
