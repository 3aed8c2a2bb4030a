using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// GoogLeNet / Inception v1 (Szegedy et al., 2014) in torchvision's layout, without the auxiliary classifiers:
/// <c>conv1</c>..<c>conv3</c>, nine Inception modules <c>inception3a</c>..<c>inception5b</c> with four parallel
/// branches <c>branch1</c>..<c>branch4</c>, max-poolings that round up, global average pooling, dropout 0.2 and
/// <c>fc</c>. Every convolution is torchvision's <c>BasicConv2d</c>: <c>conv</c> (no bias), <c>bn</c> (eps 0.001), ReLU.
/// As in torchvision (and its pretrained weights), <c>branch3</c> uses a 3×3 convolution where the paper has 5×5.
/// Weights are truncated-normal with standard deviation 0.01, as torchvision initializes them.
/// </summary>
public sealed class GoogLeNet : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly BasicConv2d conv1;
    private readonly MaxPool2d maxpool1;
    private readonly BasicConv2d conv2;
    private readonly BasicConv2d conv3;
    private readonly MaxPool2d maxpool2;
    private readonly Inception inception3a;
    private readonly Inception inception3b;
    private readonly MaxPool2d maxpool3;
    private readonly Inception inception4a;
    private readonly Inception inception4b;
    private readonly Inception inception4c;
    private readonly Inception inception4d;
    private readonly Inception inception4e;
    private readonly MaxPool2d maxpool4;
    private readonly Inception inception5a;
    private readonly Inception inception5b;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Dropout dropout;
    private readonly Linear fc;

    /// <summary>Builds GoogLeNet for <paramref name="channels"/>-channel images and <paramref name="numClasses"/> classes.</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="numClasses">Output classes.</param>
    public GoogLeNet(int channels, int numClasses) : base(nameof(GoogLeNet))
    {
        conv1 = new BasicConv2d(channels, 64, 7, stride: 2, padding: 3);
        maxpool1 = MaxPool2d(3, stride: 2, ceil_mode: true);
        conv2 = new BasicConv2d(64, 64, 1);
        conv3 = new BasicConv2d(64, 192, 3, padding: 1);
        maxpool2 = MaxPool2d(3, stride: 2, ceil_mode: true);
        inception3a = new Inception(192, 64, 96, 128, 16, 32, 32);
        inception3b = new Inception(256, 128, 128, 192, 32, 96, 64);
        maxpool3 = MaxPool2d(3, stride: 2, ceil_mode: true);
        inception4a = new Inception(480, 192, 96, 208, 16, 48, 64);
        inception4b = new Inception(512, 160, 112, 224, 24, 64, 64);
        inception4c = new Inception(512, 128, 128, 256, 24, 64, 64);
        inception4d = new Inception(512, 112, 144, 288, 32, 64, 64);
        inception4e = new Inception(528, 256, 160, 320, 32, 128, 128);
        maxpool4 = MaxPool2d(2, stride: 2, ceil_mode: true);
        inception5a = new Inception(832, 256, 160, 320, 32, 128, 128);
        inception5b = new Inception(832, 384, 192, 384, 48, 128, 128);
        avgpool = AdaptiveAvgPool2d(1);
        dropout = Dropout(0.2);
        fc = Linear(1024, numClasses);
        RegisterComponents();
        // torchvision: trunc_normal_(std=0.01, a=-2, b=2). The bounds are absolute, 200 standard deviations out, so the
        // distribution is a plain normal; TorchSharp's trunc_normal_ occasionally produced non-finite weights here.
        WeightInit.Apply(this, c => init.normal_(c.weight, std: 0.01), l => init.normal_(l.weight, std: 0.01));
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = maxpool1.call(conv1.call(input));
        x = maxpool2.call(conv3.call(conv2.call(x)));
        x = maxpool3.call(inception3b.call(inception3a.call(x)));
        x = inception4c.call(inception4b.call(inception4a.call(x)));
        x = maxpool4.call(inception4e.call(inception4d.call(x)));
        x = inception5b.call(inception5a.call(x));
        return fc.call(dropout.call(avgpool.call(x).flatten(1))).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        // The layers in forward order, each registered under its field name.
        (string Name, Module Layer)[] chain =
        [
            ("conv1", conv1), ("maxpool1", maxpool1), ("conv2", conv2), ("conv3", conv3), ("maxpool2", maxpool2),
            ("inception3a", inception3a), ("inception3b", inception3b), ("maxpool3", maxpool3),
            ("inception4a", inception4a), ("inception4b", inception4b), ("inception4c", inception4c), ("inception4d", inception4d),
            ("inception4e", inception4e), ("maxpool4", maxpool4), ("inception5a", inception5a), ("inception5b", inception5b),
            ("avgpool", avgpool),
        ];
        var x = chain.Aggregate(input, (value, layer) => writer.Call(layer.Name, layer.Layer, value));
        return writer.Call("fc", fc, writer.Call("dropout", dropout, writer.Flatten(x)));
    }
}

/// <summary>torchvision's convolution unit: <c>conv</c> (no bias), <c>bn</c> (eps 0.001), ReLU.</summary>
internal sealed class BasicConv2d : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;

    public BasicConv2d(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0) : base(nameof(BasicConv2d))
    {
        conv = Layers.ConvBeforeNorm(inChannels, outChannels, kernel, stride, padding);
        bn = BatchNorm2d(outChannels, eps: 0.001);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var convolved = conv.call(input);
        using var normalized = bn.call(convolved);
        return functional.relu(normalized);
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
        => writer.Relu(writer.Call("bn", bn, writer.Call("conv", conv, input)));
}

/// <summary>An Inception module: 1×1, 1×1→3×3, 1×1→3×3 and pool→1×1 branches concatenated along channels.</summary>
internal sealed class Inception : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly BasicConv2d branch1;
    private readonly Sequential branch2;
    private readonly Sequential branch3;
    private readonly Sequential branch4;

    public Inception(long inChannels, long ch1x1, long ch3x3Reduce, long ch3x3, long ch5x5Reduce, long ch5x5,
        long poolProjection) : base(nameof(Inception))
    {
        branch1 = new BasicConv2d(inChannels, ch1x1, 1);
        branch2 = Layers.Indexed([new BasicConv2d(inChannels, ch3x3Reduce, 1), new BasicConv2d(ch3x3Reduce, ch3x3, 3, padding: 1)]);
        // torchvision's known quirk, kept for weight compatibility: 3×3 where the paper's "5×5" branch has 5×5.
        branch3 = Layers.Indexed([new BasicConv2d(inChannels, ch5x5Reduce, 1), new BasicConv2d(ch5x5Reduce, ch5x5, 3, padding: 1)]);
        branch4 = Layers.Indexed([MaxPool2d(3, stride: 1, padding: 1, ceil_mode: true), new BasicConv2d(inChannels, poolProjection, 1)]);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        return cat([branch1.call(input), branch2.call(input), branch3.call(input), branch4.call(input)], 1).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input) => writer.ConcatChannels([
        writer.Call("branch1", branch1, input), writer.Call("branch2", branch2, input),
        writer.Call("branch3", branch3, input), writer.Call("branch4", branch4, input)]);
}

internal sealed class GoogLeNetArchitecture() : BuiltInArchitecture(
    "GoogLeNet",
    // Five stride-2 steps: at 32 pixels the last Inception modules see 1×1.
    32,
    "Resize the images (ResizeImages) to at least that size (d2l trains GoogLeNet on Fashion-MNIST resized to 96×96), "
    + "or use a small-input network such as CnnArchitecture.ResNet18Cifar.")
{
    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new GoogLeNet(channels, numClasses);
}
