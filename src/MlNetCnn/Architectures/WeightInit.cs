using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// The initializations torchvision and the teaching material apply after building a network. Batch norms keep
/// TorchSharp's defaults (weight 1, bias 0), which is what torchvision sets explicitly.
/// </summary>
internal static class WeightInit
{
    /// <summary>Runs <paramref name="conv"/> on every Conv2d and <paramref name="linear"/> on every Linear of
    /// <paramref name="root"/>, without recording gradients.</summary>
    public static void Apply(Module root, Action<Conv2d>? conv, Action<Linear>? linear)
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in root.named_modules())
        {
            switch (module)
            {
                case Conv2d c: conv?.Invoke(c); break;
                case Linear l: linear?.Invoke(l); break;
            }
        }
    }

    /// <summary>He initialization for ReLU networks, scaled by the output fan (ResNet, VGG); conv biases 0.</summary>
    public static void KaimingFanOut(Conv2d conv)
    {
        init.kaiming_normal_(conv.weight, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
        ZeroBias(conv.bias);
    }

    /// <summary>He initialization scaled by the input fan (DenseNet's <c>kaiming_normal_</c> with default arguments).</summary>
    public static void KaimingFanIn(Conv2d conv)
        => init.kaiming_normal_(conv.weight, mode: init.FanInOut.FanIn, nonlinearity: init.NonlinearityType.ReLU);

    /// <summary>Glorot/Xavier uniform weights, as d2l's <c>init_cnn</c> does for AlexNet and NiN; biases keep their defaults.</summary>
    public static void Xavier(Parameter weight) => init.xavier_uniform_(weight);

    /// <summary>Sets a bias to zero when there is one.</summary>
    public static void ZeroBias(Parameter? bias)
    {
        if (bias is not null)
            init.zeros_(bias);
    }
}
