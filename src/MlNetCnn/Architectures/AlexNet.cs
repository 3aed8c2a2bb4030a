using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// AlexNet (Krizhevsky et al., 2012) in torchvision's single-tower layout: five convolutions (<c>features.0/3/6/8/10</c>),
/// an adaptive average pooling to 6×6 (<c>avgpool</c>) and three fully connected layers with dropout
/// (<c>classifier.1/4/6</c>); the state_dict keys are torchvision's, so its weights load as they are.
/// <para>
/// With <c>smallInput</c> it is the variant for 28×28 and 32×32 images (<see cref="CnnArchitecture.AlexNetSmall"/>):
/// the same five convolutions and indices, but a 5×5 stride-1 first convolution instead of 11×11 stride 4 (a 28×28 digit
/// would not survive the stride), 2×2 max-poolings that round up (28→14→7→4, 32→16→8→4), a 4×4 adaptive pooling
/// and 1,024-wide hidden layers instead of 4,096, since a 4×4×256 map does not need more.
/// </para>
/// Weights are Xavier-uniform, as the teaching material (d2l) initializes it.
/// </summary>
public sealed class AlexNet : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Sequential features;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Sequential classifier;

    /// <summary>Builds AlexNet for <paramref name="channels"/>-channel images and <paramref name="numClasses"/> classes.</summary>
    /// <param name="channels">Input channels (1 or 3).</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="smallInput">True for the 28×28/32×32 variant described above.</param>
    public AlexNet(int channels, int numClasses, bool smallInput = false) : base(nameof(AlexNet))
    {
        // The small variant pools with ceil_mode so that 28 and 32 both end at 4×4.
        Module<Tensor, Tensor> Pool() => smallInput ? MaxPool2d(2, ceil_mode: true) : MaxPool2d(3, stride: 2);
        features = Layers.Indexed([
            smallInput ? Conv2d(channels, 64, 5, padding: 2) : Conv2d(channels, 64, 11, stride: 4, padding: 2), ReLU(), Pool(),
            Conv2d(64, 192, 5, padding: 2), ReLU(), Pool(),
            Conv2d(192, 384, 3, padding: 1), ReLU(),
            Conv2d(384, 256, 3, padding: 1), ReLU(),
            Conv2d(256, 256, 3, padding: 1), ReLU(), Pool()]);
        int pooled = smallInput ? 4 : 6, hidden = smallInput ? 1024 : 4096;
        avgpool = AdaptiveAvgPool2d(pooled);
        classifier = Layers.Indexed([
            Dropout(0.5), Linear(256 * pooled * pooled, hidden), ReLU(),
            Dropout(0.5), Linear(hidden, hidden), ReLU(),
            Linear(hidden, numClasses)]);
        RegisterComponents();
        WeightInit.Apply(this, c => WeightInit.Xavier(c.weight), l => WeightInit.Xavier(l.weight));
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => Layers.PoolAndClassify(features.call(input), avgpool, classifier);

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
        => writer.Call("classifier", classifier, writer.Flatten(writer.Call("avgpool", avgpool, writer.Call("features", features, input))));
}

internal sealed class AlexNetArchitecture(bool smallInput) : BuiltInArchitecture(
    smallInput ? "AlexNetSmall" : "AlexNet",
    // ImageNet layout: 11×11 stride 4 then three 3×3 stride-2 poolings need 63 pixels; the small one halves three times.
    smallInput ? 8 : 63,
    smallInput ? null
    : "Use CnnArchitecture.AlexNetSmall for 28×28 or 32×32 images, or resize them (ResizeImages) to at least that size "
    + "(AlexNet was designed for 224×224).")
{
    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new AlexNet(channels, numClasses, smallInput);
}
