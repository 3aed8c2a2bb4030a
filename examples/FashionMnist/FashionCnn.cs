using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace FashionMnist;

/// <summary>
/// A small CNN for 28×28 clothing images, defined here to show how a network of one's own plugs into CnnTrainer:
/// two blocks of (3×3 conv → batch norm → ReLU) × 2 and 2×2 max-pooling (32 then 64 channels), then a 128-unit fully
/// connected layer with dropout 0.3. 468,202 parameters for 1×28×28 and 10 classes.
/// </summary>
internal sealed class FashionCnn : Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly Sequential classifier;

    public FashionCnn(int channels, int height, int width, int numClasses) : base(nameof(FashionCnn))
    {
        features = Sequential(
            ConvBlock(channels, 32), ConvBlock(32, 32), MaxPool2d(2),
            ConvBlock(32, 64), ConvBlock(64, 64), MaxPool2d(2));
        classifier = Sequential(
            Flatten(), Linear(64 * (height / 4) * (width / 4), 128), ReLU(), Dropout(0.3), Linear(128, numClasses));
        RegisterComponents();
    }

    /// <summary>The architecture to give CnnTrainer; registering it by name also lets a saved model be loaded again.</summary>
    public static MlNetCnn.CnnArchitecture Architecture { get; } =
        MlNetCnn.CnnArchitecture.Custom(nameof(FashionCnn), (channels, height, width, classes) => new FashionCnn(channels, height, width, classes));

    public override Tensor forward(Tensor input)
    {
        using var features1 = features.call(input);
        return classifier.call(features1);
    }

    private static Sequential ConvBlock(int inChannels, int outChannels)
        => Sequential(Conv2d(inChannels, outChannels, 3, padding: 1, bias: false), BatchNorm2d(outChannels), ReLU());
}
