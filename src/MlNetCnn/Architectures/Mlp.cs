using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// The teaching material's fully connected baseline <c>FC2Layer(input_size, n_hidden, output_size)</c>: flatten →
/// Linear(C·H·W, hidden) → ReLU → Linear(hidden, hidden) → ReLU → Linear(hidden, classes), as <c>network.0/2/4</c>.
/// FC2Layer(784, 8, 10) has 6,442 parameters, to compare with <see cref="CnnNFeature"/>'s 6,422. The material's final
/// <c>LogSoftmax</c> is left out: the trainer's cross-entropy applies it, and applying it twice changes nothing.
/// </summary>
public sealed class Mlp : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly Sequential network;

    /// <summary>Builds the network for <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/> inputs.</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Input height in pixels.</param>
    /// <param name="width">Input width in pixels.</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="hidden">Units of the hidden layer.</param>
    public Mlp(int channels, int height, int width, int numClasses, int hidden = 8) : base(nameof(Mlp))
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        network = Layers.Indexed([
            Linear(channels * height * width, hidden), ReLU(),
            Linear(hidden, hidden), ReLU(),
            Linear(hidden, numClasses)]);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var flat = input.flatten(1);
        return network.call(flat);
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input) => writer.Call("network", network, writer.Flatten(input));
}

internal sealed class MlpArchitecture(int hidden) : BuiltInArchitecture(NamePrefix + hidden, 1)
{
    internal override bool SizeGrowsWithImage => true;

    public const string NamePrefix = "Mlp";

    // The three linear layers' weights.
    internal override double LeastStateValues(int channels, int height, int width, int numClasses)
        => (double)hidden * ((double)channels * height * width + hidden + numClasses);

    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new Mlp(channels, height, width, numClasses, hidden);
}
