using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// The two-convolution, three-fully-connected MNIST CNN of the PyTorch tutorials and the teaching material:
/// <c>conv1</c> 5×5 (6) → ReLU → <c>pool</c> 2×2 → <c>conv2</c> 5×5 (16) → ReLU → <c>pool</c> → <c>fc1</c> 120 → ReLU →
/// <c>fc2</c> 84 → ReLU → <c>fc3</c> classes.
/// <para>
/// It differs from <see cref="LeNet5"/> in two ways: it never pads, so a 28×28 digit leaves a 16×4×4 map and
/// <c>fc1</c> has 256 inputs (LeNet5 pads 28×28 inputs by 2 to keep the classic 16×5×5 = 400); and its layers are
/// named as in the tutorial (<c>conv1</c>, <c>conv2</c>, <c>fc1</c>..<c>fc3</c>, one shared <c>pool</c>) rather than
/// <c>features.N</c>/<c>classifier.N</c>. Both use ReLU and max-pooling where the 1998 LeNet-5 used squashing
/// activations and subsampling. At 32×32 the two have the same parameters (62,006 for 3 channels and 10 classes).
/// </para>
/// </summary>
public sealed class TwoConvThreeFc : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Conv2d conv1;
    private readonly MaxPool2d pool;
    private readonly Conv2d conv2;
    private readonly Linear fc1;
    private readonly Linear fc2;
    private readonly Linear fc3;

    /// <summary>Builds the network for <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/> inputs.</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Input height in pixels.</param>
    /// <param name="width">Input width in pixels.</param>
    /// <param name="numClasses">Output classes.</param>
    public TwoConvThreeFc(int channels, int height, int width, int numClasses) : base(nameof(TwoConvThreeFc))
    {
        conv1 = Conv2d(channels, 6, 5);
        pool = MaxPool2d(2, stride: 2);
        conv2 = Conv2d(6, 16, 5);
        fc1 = Linear(16 * TwoConvolutionsSize(height) * TwoConvolutionsSize(width), 120);
        fc2 = Linear(120, 84);
        fc3 = Linear(84, numClasses);
        RegisterComponents();
    }

    /// <summary>The side of the map after two unpadded 5×5 convolutions, each followed by a 2×2 pooling.</summary>
    internal static int TwoConvolutionsSize(int size) => Layers.OutputSize(Layers.OutputSize(size, 5) / 2, 5) / 2;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = pool.call(functional.relu(conv1.call(input)));
        x = pool.call(functional.relu(conv2.call(x))).flatten(1);
        x = functional.relu(fc2.call(functional.relu(fc1.call(x))));
        return fc3.call(x).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var x = writer.Call("pool", pool, writer.Relu(writer.Call("conv1", conv1, input)));
        x = writer.Flatten(writer.Call("pool", pool, writer.Relu(writer.Call("conv2", conv2, x))));
        x = writer.Relu(writer.Call("fc2", fc2, writer.Relu(writer.Call("fc1", fc1, x))));
        return writer.Call("fc3", fc3, x);
    }
}

internal sealed class TwoConvThreeFcArchitecture() : BuiltInArchitecture(
    "TwoConvThreeFc",
    // Two unpadded 5×5 convolutions and two 2×2 poolings: 16 leaves a 1×1 map.
    16,
    "Resize the images (ResizeImages) to at least that size, or use CnnArchitecture.LeNet5, which pads small inputs.")
{
    internal override bool SizeGrowsWithImage => true;

    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new TwoConvThreeFc(channels, height, width, numClasses);
}
