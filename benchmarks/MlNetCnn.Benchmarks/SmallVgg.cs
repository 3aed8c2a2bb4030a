using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// A small VGG-style network for 3×32×32 inputs: (conv 3×3 → batch norm → ReLU) × 2 per stage with 64, 128 and 256
/// channels, max-pooling after each stage, then one linear layer. Its activations (tens of MB per batch) are what
/// glibc's dynamic mmap threshold handles badly.
/// </summary>
internal sealed class SmallVgg : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> features;
    private readonly Module<Tensor, Tensor> classifier;

    public SmallVgg(int channels, int height, int width, int numClasses) : base(nameof(SmallVgg))
    {
        var layers = new List<(string, Module<Tensor, Tensor>)>();
        int input = channels;
        foreach (int stage in new[] { 64, 128, 256 })
        {
            for (int i = 0; i < 2; i++)
            {
                layers.Add(($"{layers.Count}", Conv2d(input, stage, 3, padding: 1, bias: false)));
                layers.Add(($"{layers.Count}", BatchNorm2d(stage)));
                layers.Add(($"{layers.Count}", ReLU(inplace: true)));
                input = stage;
            }
            layers.Add(($"{layers.Count}", MaxPool2d(2)));
        }
        features = Sequential(layers);
        classifier = Linear(256 * (height / 8) * (width / 8), numClasses);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var mapped = features.call(input);
        using var flat = mapped.flatten(1);
        return classifier.call(flat);
    }

    /// <summary>Registered once per process so CnnTrainer can build it.</summary>
    public static CnnArchitecture Architecture => s_architecture.Value;

    private static readonly Lazy<CnnArchitecture> s_architecture =
        new(() => CnnArchitecture.Custom("BenchmarkSmallVgg", (c, h, w, n) => new SmallVgg(c, h, w, n)));
}
