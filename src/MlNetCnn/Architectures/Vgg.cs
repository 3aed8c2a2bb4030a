using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// VGG with batch normalization (Simonyan and Zisserman, 2014; torchvision's <c>vgg11_bn</c> ... <c>vgg19_bn</c>):
/// 3×3 convolutions, each followed by batch norm and ReLU, and 2×2 max-poolings, built from one configuration table per
/// depth, so <c>features.N</c> has torchvision's indices; then a 7×7 adaptive pooling (<c>avgpool</c>) and
/// 4096-4096-classes fully connected layers with ReLU and dropout (<c>classifier.0/3/6</c>).
/// <para>
/// With <c>cifar</c> it is the common CIFAR layout: the same <c>features</c>, then global average pooling (a no-op on
/// the 1×1 map a 32×32 image leaves) and one Linear 512→classes (<c>classifier</c>). Its poolings round up so that
/// 28×28 images also end at 1×1 (28→14→7→4→2→1).
/// </para>
/// Initialization as torchvision: Kaiming-normal (fan-out) convolutions with zero bias, N(0, 0.01) linear weights with zero bias.
/// </summary>
public sealed class Vgg : Module<Tensor, Tensor>, IOnnxModule
{
    // 0 marks a 2×2 max-pooling; the other entries are the output channels of a 3×3 convolution.
    private const int M = 0;

    private static readonly Dictionary<int, int[]> s_configurations = new()
    {
        [11] = [64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
        [13] = [64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M],
        [16] = [64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M],
        [19] = [64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M],
    };

    private readonly Sequential features;
    private readonly Module<Tensor, Tensor> avgpool;
    private readonly Module<Tensor, Tensor> classifier;

    /// <summary>The depths torchvision defines: 11, 13, 16 and 19 weight layers.</summary>
    public static IReadOnlyCollection<int> Depths => s_configurations.Keys;

    /// <summary>Builds VGG-<paramref name="depth"/> with batch norm.</summary>
    /// <param name="depth">11, 13, 16 or 19.</param>
    /// <param name="channels">Input channels (1 or 3).</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="cifar">True for the CIFAR layout described above.</param>
    public Vgg(int depth, int channels, int numClasses, bool cifar = false) : base($"Vgg{depth}")
    {
        if (!s_configurations.TryGetValue(depth, out var configuration))
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "VGG depth must be 11, 13, 16 or 19.");
        var layers = new List<Module<Tensor, Tensor>>();
        long inChannels = channels;
        foreach (int entry in configuration)
        {
            if (entry == M)
            {
                layers.Add(MaxPool2d(2, stride: 2, ceil_mode: cifar));
                continue;
            }
            layers.AddRange([Conv2d(inChannels, entry, 3, padding: 1), BatchNorm2d(entry), ReLU()]);
            inChannels = entry;
        }
        features = Layers.Indexed(layers);
        if (cifar)
        {
            avgpool = AdaptiveAvgPool2d(1);
            classifier = Linear(512, numClasses);
        }
        else
        {
            avgpool = AdaptiveAvgPool2d(7);
            classifier = Layers.Indexed([
                Linear(512 * 7 * 7, 4096), ReLU(), Dropout(0.5),
                Linear(4096, 4096), ReLU(), Dropout(0.5),
                Linear(4096, numClasses)]);
        }
        RegisterComponents();
        WeightInit.Apply(this, WeightInit.KaimingFanOut, linear =>
        {
            init.normal_(linear.weight, 0, 0.01);
            WeightInit.ZeroBias(linear.bias);
        });
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => Layers.PoolAndClassify(features.call(input), avgpool, classifier);

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
        => writer.Call("classifier", classifier, writer.Flatten(writer.Call("avgpool", avgpool, writer.Call("features", features, input))));
}

internal sealed class VggArchitecture(int depth, bool cifar) : BuiltInArchitecture(
    cifar ? $"Vgg{depth}Cifar" : $"Vgg{depth}",
    // Five 2×2 poolings: 32 pixels end at 1×1; rounding up (CIFAR layout) lets 16 do so too.
    cifar ? 16 : 32,
    cifar ? null : $"Use CnnArchitecture.Vgg{depth}Cifar for 28×28 images, or resize them (ResizeImages) to at least that size.")
{
    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new Vgg(depth, channels, numClasses, cifar);
}
