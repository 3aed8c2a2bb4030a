using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// The teaching material's <c>CNN(n_feature)</c>: <c>conv1</c> 5×5 (n_feature) → ReLU → max-pool 2 → <c>conv2</c> 5×5
/// (n_feature) → ReLU → max-pool 2 → flatten → <c>fc1</c> 50 → ReLU → <c>fc2</c> classes. With n_feature = 6 on 1×28×28
/// and 10 classes it has 6,422 parameters, almost exactly as many as the fully connected <see cref="Mlp"/> with 8 hidden
/// units (6,442): the pair shows what weight sharing buys. The material's final <c>log_softmax</c> is left out: the
/// trainer's cross-entropy applies it to the logits, and log-softmax of log-softmax changes nothing.
/// </summary>
public sealed class CnnNFeature : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly Linear fc1;
    private readonly Linear fc2;

    /// <summary>Builds the network with <paramref name="nFeature"/> channels in both convolutions.</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Input height in pixels.</param>
    /// <param name="width">Input width in pixels.</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="nFeature">Channels of both convolutions.</param>
    public CnnNFeature(int channels, int height, int width, int numClasses, int nFeature = 6) : base(nameof(CnnNFeature))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nFeature, 1);
        conv1 = Conv2d(channels, nFeature, 5);
        conv2 = Conv2d(nFeature, nFeature, 5);
        fc1 = Linear(nFeature * TwoConvThreeFc.TwoConvolutionsSize(height) * TwoConvThreeFc.TwoConvolutionsSize(width), 50);
        fc2 = Linear(50, numClasses);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = functional.max_pool2d(functional.relu(conv1.call(input)), 2);
        x = functional.max_pool2d(functional.relu(conv2.call(x)), 2).flatten(1);
        return fc2.call(functional.relu(fc1.call(x))).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var x = writer.MaxPool(writer.Relu(writer.Call("conv1", conv1, input)), [2]);
        x = writer.Flatten(writer.MaxPool(writer.Relu(writer.Call("conv2", conv2, x)), [2]));
        return writer.Call("fc2", fc2, writer.Relu(writer.Call("fc1", fc1, x)));
    }
}

internal sealed class CnnNFeatureArchitecture(int nFeature) : BuiltInArchitecture(
    NamePrefix + nFeature,
    // Two unpadded 5×5 convolutions and two 2×2 poolings: 16 leaves a 1×1 map.
    16,
    "Resize the images (ResizeImages) to at least that size.")
{
    internal override bool SizeGrowsWithImage => true;

    public const string NamePrefix = "CnnNFeature";

    // The weights of the two 5×5 convolutions and the two linear layers.
    internal override double LeastStateValues(int channels, int height, int width, int numClasses)
        => nFeature * (25.0 * ((double)channels + nFeature)
                + 50.0 * Architectures.TwoConvThreeFc.TwoConvolutionsSize(height)
                    * Architectures.TwoConvThreeFc.TwoConvolutionsSize(width))
            + 50.0 * numClasses;

    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new CnnNFeature(channels, height, width, numClasses, nFeature);
}
