using MlNetCnn.Persistence.Onnx;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// LeNet-5 (LeCun et al., 1998) as the teaching material builds it: conv 5×5 (6) → pool → conv 5×5 (16) → pool →
/// FC 120 → FC 84 → classes, with ReLU and max-pooling. Inputs smaller than 32×32 (e.g. MNIST's 28×28) are padded by
/// 2 on the first convolution, as the original network saw 32×32 digits.
/// Layers are <c>features.N</c> and <c>classifier.N</c>, in the torchvision style.
/// </summary>
public sealed class LeNet5 : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Module<Tensor, Tensor> features;
    private readonly Module<Tensor, Tensor> classifier;

    /// <summary>Builds LeNet-5 for <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/> inputs.</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Input height in pixels (below 32 the first convolution pads by 2).</param>
    /// <param name="width">Input width in pixels.</param>
    /// <param name="numClasses">Output classes.</param>
    public LeNet5(int channels, int height, int width, int numClasses) : base(nameof(LeNet5))
    {
        int padding = Math.Min(height, width) < 32 ? 2 : 0;
        features = Sequential(
            ("0", Conv2d(channels, 6, 5, padding: padding)), ("1", ReLU()), ("2", MaxPool2d(2)),
            ("3", Conv2d(6, 16, 5)), ("4", ReLU()), ("5", MaxPool2d(2)));
        int featureHeight = ((height + 2 * padding - 4) / 2 - 4) / 2;
        int featureWidth = ((width + 2 * padding - 4) / 2 - 4) / 2;
        classifier = Sequential(
            ("0", Linear(16 * featureHeight * featureWidth, 120)), ("1", ReLU()),
            ("2", Linear(120, 84)), ("3", ReLU()),
            ("4", Linear(84, numClasses)));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var mapped = features.call(input);
        using var flat = mapped.flatten(1);
        return classifier.call(flat);
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
        => writer.Call("classifier", classifier, writer.Flatten(writer.Call("features", features, input)));
}

internal sealed class LeNet5Architecture() : CnnArchitecture("LeNet5")
{
    // Inputs below 32×32 are padded by 2; below 12×12 the second pooling would leave nothing.
    public override int MinimumImageSize => 12;

    internal override bool ComputesOnChannelsLastMemory => true;

    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new LeNet5(channels, height, width, numClasses);
}
