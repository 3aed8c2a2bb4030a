using MlNetCnn.Platform;
using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// The small VGG-like network of airbench94 (K. Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024): a
/// 2×2 convolution <c>whiten</c> with 2 × C × 4 filters, made for <see cref="CnnTrainerOptions.PatchWhitening"/>, and
/// GELU; three groups <c>layer1</c> to <c>layer3</c> (3×3 convolution, 2×2 max-pooling, batch norm, GELU, 3×3
/// convolution, batch norm, GELU) of w, 4w and 4w channels; global max-pooling and a bias-free <c>fc</c> whose logits
/// are scaled by 1/9. Its batch norms learn only their shift: the scale stays 1 (not trained), the running statistics
/// move by 0.4 per batch and epsilon is 1e-12, as in airbench. w = 64 is the original (1.97 M parameters with 10
/// classes). From 9×9.
/// </summary>
public sealed class AirbenchNet : Module<Tensor, Tensor>, IOnnxModule
{
    // airbench's output scaling: small initial logits keep its high learning rate stable.
    private const double LogitScale = 1.0 / 9;
    private const int WhiteningKernel = 2;

    private readonly Conv2d whiten;
    private readonly GELU act;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly AdaptiveMaxPool2d pool;
    private readonly Linear fc;

    /// <summary>Builds the network with base width <paramref name="width"/> (64 in airbench94).</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="width">Channels of the first group; the second and third have 4 times as many.</param>
    public AirbenchNet(int channels, int numClasses, int width = 64) : base(nameof(AirbenchNet))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        int whitened = 2 * channels * WhiteningKernel * WhiteningKernel;
        whiten = Conv2d(channels, whitened, WhiteningKernel, bias: true);
        act = GELU();
        layer1 = ConvGroup(whitened, width);
        layer2 = ConvGroup(width, 4 * width);
        layer3 = ConvGroup(4 * width, 4 * width);
        pool = AdaptiveMaxPool2d([1, 1]);
        fc = Linear(4 * width, numClasses, hasBias: false);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = layer3.call(layer2.call(layer1.call(act.call(whiten.call(input)))));
        return fc.call(pool.call(x).flatten(1)).Times(LogitScale).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var x = writer.Call("act", act, writer.Call("whiten", whiten, input));
        x = writer.Call("layer3", layer3, writer.Call("layer2", layer2, writer.Call("layer1", layer1, x)));
        return writer.Scale(writer.Call("fc", fc, writer.Flatten(writer.Call("pool", pool, x))), (float)LogitScale);
    }

    // conv → max-pool → norm → GELU → conv → norm → GELU; the pooling before the first norm halves its cost.
    private static Sequential ConvGroup(int inChannels, int outChannels) => Sequential(
        ("conv1", Layers.ConvBeforeNorm(inChannels, outChannels, 3, padding: 1)),
        ("pool", MaxPool2d(2)),
        ("norm1", ShiftOnlyNorm(outChannels)),
        ("act1", GELU()),
        ("conv2", Layers.ConvBeforeNorm(outChannels, outChannels, 3, padding: 1)),
        ("norm2", ShiftOnlyNorm(outChannels)),
        ("act2", GELU()));

    // PyTorch's momentum is the weight of the new batch: airbench's 0.6 on the old statistics is 0.4 here.
    private static BatchNorm2d ShiftOnlyNorm(int features)
    {
        var norm = BatchNorm2d(features, eps: 1e-12, momentum: 0.4);
        norm.weight!.requires_grad = false;
        return norm;
    }
}

internal sealed class AirbenchNetArchitecture(int width) : BuiltInArchitecture(NamePrefix + width, 9)
{
    public const string NamePrefix = "AirbenchNet-";

    // The 3×3 convolutions w→w, w→4w and three of 4w→4w.
    internal override double LeastStateValues(int channels, int height, int width1, int numClasses) => 9.0 * 53 * width * (double)width;

    protected override Module<Tensor, Tensor> Build(int channels, int height, int width1, int numClasses)
        => new AirbenchNet(channels, numClasses, width);
}
