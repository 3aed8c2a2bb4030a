using MlNetCnn.Platform;
using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// ResNet-9, the fast CIFAR-10 network of the DAWNBench competition (Myrtle.ai, D. Page, 2018): a 3×3 <c>prep</c>
/// convolution, <c>layer1</c> (convolution and 2×2 max-pooling) with a two-convolution residual <c>res1</c>,
/// <c>layer2</c>, <c>layer3</c> with residual <c>res3</c>, global max-pooling and a bias-free <c>fc</c> whose logits
/// are scaled by 1/8. Every convolution is 3×3, bias-free and followed by batch norm and ReLU. Channel widths are
/// w, 2w, 4w, 8w: w = 64 is the original (6.57 M parameters with 10 classes), w = 32 (1.65 M) trains CIFAR-10 to
/// about 0.89 in ten epochs on two CPU cores. From 8×8 (three poolings).
/// </summary>
public sealed class ResNet9 : Module<Tensor, Tensor>, IOnnxModule
{
    // The original's output scaling: keeps the initial logits small so the one-cycle schedule's high learning rate is stable.
    private const double LogitScale = 0.125;

    private readonly Sequential prep;
    private readonly Sequential layer1;
    private readonly Sequential res1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential res3;
    private readonly AdaptiveMaxPool2d pool;
    private readonly Linear fc;

    /// <summary>Builds ResNet-9 with base width <paramref name="width"/> (64 in the original).</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="width">Channels of the first stage; the later stages have 2, 4 and 8 times as many.</param>
    public ResNet9(int channels, int numClasses, int width = 64) : base(nameof(ResNet9))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        prep = ConvBlock(channels, width, pool: false);
        layer1 = ConvBlock(width, 2 * width, pool: true);
        res1 = Residual(2 * width);
        layer2 = ConvBlock(2 * width, 4 * width, pool: true);
        layer3 = ConvBlock(4 * width, 8 * width, pool: true);
        res3 = Residual(8 * width);
        pool = AdaptiveMaxPool2d([1, 1]);
        fc = Linear(8 * width, numClasses, hasBias: false);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = layer1.call(prep.call(input));
        x = x + res1.call(x);
        x = layer3.call(layer2.call(x));
        x = x + res3.call(x);
        return fc.call(pool.call(x).flatten(1)).Times(LogitScale).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var x = writer.Call("layer1", layer1, writer.Call("prep", prep, input));
        x = writer.Add(x, writer.Call("res1", res1, x));
        x = writer.Call("layer3", layer3, writer.Call("layer2", layer2, x));
        x = writer.Add(x, writer.Call("res3", res3, x));
        return writer.Scale(writer.Call("fc", fc, writer.Flatten(writer.Call("pool", pool, x))), (float)LogitScale);
    }

    // conv → bn → relu (→ max-pool 2), children named 0..3 like an unnamed nn.Sequential.
    private static Sequential ConvBlock(int inChannels, int outChannels, bool pool)
    {
        Module<Tensor, Tensor>[] layers = [Layers.ConvBeforeNorm(inChannels, outChannels, 3, padding: 1), BatchNorm2d(outChannels), ReLU()];
        return Layers.Indexed(pool ? [.. layers, MaxPool2d(2)] : layers);
    }

    // Two conv-bn-relu blocks whose output is added to their input.
    private static Sequential Residual(int width) => Layers.Indexed([ConvBlock(width, width, pool: false), ConvBlock(width, width, pool: false)]);
}

internal sealed class ResNet9Architecture(int width) : BuiltInArchitecture(NamePrefix + width, 8)
{
    public const string NamePrefix = "ResNet9-";

    // The 3×3 convolutions w→2w, two of 2w→2w, 2w→4w, 4w→8w and two of 8w→8w.
    internal override double LeastStateValues(int channels, int height, int width1, int numClasses) => 9.0 * 178 * width * (double)width;

    protected override Module<Tensor, Tensor> Build(int channels, int height, int width1, int numClasses) => new ResNet9(channels, numClasses, width);
}
