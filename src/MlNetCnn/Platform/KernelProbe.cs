using static TorchSharp.torch;

namespace MlNetCnn.Platform;

/// <summary>
/// The layers of the built-in networks, run on small seeded tensors through libtorch's current CPU kernels (oneDNN
/// when it is on) and through float64, which libtorch computes with its own kernels. Each case compares the forward
/// output and the gradients of input and weight, in planar and channels-last memory, in float32 and, where the CPU
/// trains in bfloat16, in bfloat16. A kernel that is right differs from float64 by float32 rounding (about 1e-6 of the
/// largest value); the faults this guards against differed by 1e-2 to 1e-1, or gave NaN.
/// </summary>
internal static class KernelProbe
{
    /// <summary>Largest difference allowed, relative to the largest magnitude of the float64 result.</summary>
    internal const double Float32Tolerance = 1e-4;

    /// <summary>bfloat16 keeps 8 significant bits: its inputs and outputs are rounded to 2^-8 of their magnitude.</summary>
    internal const double BFloat16Tolerance = 3e-2;

    /// <summary>Test hook: when set, changes the fast path's result of every case whose name contains the key.</summary>
    internal static (string CaseName, Func<Tensor, Tensor> Fault)? InjectedFault { get; set; }

    /// <summary>
    /// The cases: convolutions at the shapes of ResNet (3×3 at 64 to 512 channels, strided 3×3 and 1×1 shortcuts, the
    /// 7×7 stem), GoogLeNet (1×1, 3×3, 5×5 at its widths), DenseNet (bottleneck 1×1 and growth-16 3×3), AirbenchNet
    /// (2×2 whitening, 3×3 at 64 to 256), LeNet-5 and the teaching nets' 6-channel 5×5; batch norm, pooling, linear.
    /// Strided 1×1 convolutions that widen to 1,024 channels or more are left out: their backward pass traps in every
    /// libtorch 2.10 build (README, Known issues), and ResNet-50 avoids them.
    /// </summary>
    internal static IReadOnlyList<ProbeCase> Cases { get; } =
    [
        Convolution("ResNet stem 3x3 3->64", 2, 3, 64, 32, 3, 1, 1),
        Convolution("ResNet 3x3 64->64", 2, 64, 64, 16, 3, 1, 1),
        Convolution("ResNet 3x3 64->128 stride 2", 2, 64, 128, 16, 3, 2, 1),
        Convolution("ResNet shortcut 1x1 64->128 stride 2", 2, 64, 128, 16, 1, 2, 0),
        Convolution("ResNet 3x3 128->128", 2, 128, 128, 8, 3, 1, 1),
        Convolution("ResNet shortcut 1x1 128->256 stride 2", 2, 128, 256, 8, 1, 2, 0),
        Convolution("ResNet 3x3 256->256", 2, 256, 256, 4, 3, 1, 1),
        Convolution("ResNet shortcut 1x1 256->512 stride 2", 2, 256, 512, 4, 1, 2, 0),
        Convolution("ResNet 3x3 512->512", 2, 512, 512, 2, 3, 1, 1),
        Convolution("ResNet ImageNet stem 7x7 3->64 stride 2", 2, 3, 64, 32, 7, 2, 3),
        Convolution("ResNet bottleneck 1x1 256->64", 2, 256, 64, 8, 1, 1, 0),
        Convolution("GoogLeNet 1x1 192->64", 2, 192, 64, 8, 1, 1, 0),
        Convolution("GoogLeNet 3x3 96->128", 2, 96, 128, 8, 3, 1, 1),
        Convolution("GoogLeNet 5x5 16->32", 2, 16, 32, 8, 5, 1, 2),
        Convolution("DenseNet bottleneck 1x1 96->64", 2, 96, 64, 8, 1, 1, 0),
        Convolution("DenseNet growth 3x3 64->16", 2, 64, 16, 8, 3, 1, 1),
        Convolution("AirbenchNet whitening 2x2 3->24", 2, 3, 24, 32, 2, 1, 0),
        Convolution("AirbenchNet 3x3 24->64", 2, 24, 64, 16, 3, 1, 1),
        Convolution("AirbenchNet 3x3 64->256", 2, 64, 256, 8, 3, 1, 1),
        Convolution("LeNet-5 5x5 6->16", 4, 6, 16, 14, 5, 1, 0),
        Convolution("CnnNFeature 5x5 6->6", 8, 6, 6, 12, 5, 1, 0),
        new("batch norm 64 channels", Layer.BatchNorm, 4, 64, 64, 8, 0, 1, 0),
        new("max pooling 3x3 stride 2", Layer.MaxPool, 2, 64, 64, 16, 3, 2, 1),
        new("average pooling 2x2", Layer.AveragePool, 2, 64, 64, 8, 2, 2, 0),
        new("linear 512->10", Layer.Linear, 8, 512, 10, 1, 0, 1, 0),
    ];

    /// <summary>Runs every case in every layout and precision that applies; returns those that disagree.</summary>
    /// <param name="bfloat16">Whether to check bfloat16 too (where the CPU computes it natively and training uses it).</param>
    internal static IReadOnlyList<KernelDisagreement> Run(bool bfloat16)
    {
        var disagreements = new List<KernelDisagreement>();
        foreach (var probe in Cases)
        {
            foreach (bool channelsLast in probe.HasLayout ? [false, true] : new[] { false })
            {
                Check(probe, channelsLast, ScalarType.Float32, disagreements);
                if (bfloat16 && probe.Kind is Layer.Convolution)
                    Check(probe, channelsLast, ScalarType.BFloat16, disagreements);
            }
        }
        return disagreements;
    }

    private static void Check(ProbeCase probe, bool channelsLast, ScalarType type, List<KernelDisagreement> disagreements)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)(probe.Name.Length * 7919 + probe.OutputChannels));
        var input = randn(probe.InputShape, generator: generator).to(type);
        var weight = probe.WeightShape is { } shape ? (randn(shape, generator: generator) * probe.WeightScale).to(type) : null;
        var fast = probe.Evaluate(input, weight, channelsLast);
        var reference = probe.Evaluate(input.to(ScalarType.Float64), weight?.to(ScalarType.Float64), channelsLast: false);
        string variant = $"{(channelsLast ? "channels-last" : "planar")} {(type == ScalarType.BFloat16 ? "bfloat16" : "float32")}";
        double tolerance = type == ScalarType.BFloat16 ? BFloat16Tolerance : Float32Tolerance;
        for (int i = 0; i < fast.Length; i++)
        {
            var result = fast[i].Value;
            if (InjectedFault is { } fault && probe.Name.Contains(fault.CaseName, StringComparison.Ordinal))
                result = fault.Fault(result);
            double error = RelativeError(result, reference[i].Value);
            if (!(error <= tolerance))
                disagreements.Add(new KernelDisagreement($"{probe.Name} {variant} {fast[i].Name}", error, tolerance));
        }
    }

    /// <summary>Largest absolute difference over the largest magnitude of the reference; NaN when either holds a non-finite value.</summary>
    internal static double RelativeError(Tensor actual, Tensor expected)
    {
        var a = actual.to(ScalarType.Float64);
        if (!a.isfinite().all().item<bool>())
            return double.NaN;
        double scale = expected.abs().max().item<double>();
        return (a - expected).abs().max().item<double>() / Math.Max(scale, 1e-30);
    }

    private static ProbeCase Convolution(string name, int batch, int inputs, int outputs, int size, int kernel, int stride, int padding)
        => new(name, Layer.Convolution, batch, inputs, outputs, size, kernel, stride, padding);

    internal enum Layer { Convolution, BatchNorm, MaxPool, AveragePool, Linear }

    /// <summary>One layer at one shape: its forward output and, for layers with inputs that learn, its gradients.</summary>
    internal sealed record ProbeCase(string Name, Layer Kind, int Batch, int InputChannels, int OutputChannels,
        int Size, int Kernel, int Stride, int Padding)
    {
        public bool HasLayout => Kind is not Layer.Linear;

        public long[] InputShape => Kind is Layer.Linear ? [Batch, InputChannels] : [Batch, InputChannels, Size, Size];

        public long[]? WeightShape => Kind switch
        {
            Layer.Convolution => [OutputChannels, InputChannels, Kernel, Kernel],
            Layer.BatchNorm => [InputChannels],
            Layer.Linear => [OutputChannels, InputChannels],
            _ => null,
        };

        /// <summary>He-style scale, so outputs stay near unit size whatever the fan-in.</summary>
        public double WeightScale => Kind is Layer.BatchNorm ? 1 : Math.Sqrt(2.0 / (InputChannels * Math.Max(1, Kernel * Kernel)));

        /// <summary>The forward output and the gradients of a fixed weighted sum of it with respect to input and weight.</summary>
        public (string Name, Tensor Value)[] Evaluate(Tensor input, Tensor? weight, bool channelsLast)
        {
            var x = (channelsLast ? input.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : input.clone()).requires_grad_();
            var w = weight?.clone().requires_grad_();
            var output = Forward(x, w);
            // A fixed, non-uniform upstream gradient, so every output element's gradient path is exercised.
            var upstream = arange(output.numel(), dtype: ScalarType.Float64).remainder(7).sub(3).reshape(output.shape).to(output.dtype);
            (output * upstream).sum().backward();
            var results = new List<(string, Tensor)> { ("output", output.detach()), ("input gradient", x.grad!) };
            if (w?.grad is { } weightGradient)
                results.Add(("weight gradient", weightGradient));
            return [.. results];
        }

        private Tensor Forward(Tensor x, Tensor? w) => Kind switch
        {
            Layer.Convolution => nn.functional.conv2d(x, w!, null, [Stride, Stride], [Padding, Padding]),
            Layer.BatchNorm => nn.functional.batch_norm(x, null, null, weight: w, training: true),
            Layer.MaxPool => nn.functional.max_pool2d(x, [Kernel, Kernel], [Stride, Stride], [Padding, Padding]),
            Layer.AveragePool => nn.functional.avg_pool2d(x, [Kernel, Kernel], [Stride, Stride]),
            Layer.Linear => nn.functional.linear(x, w!),
            _ => throw new InvalidOperationException($"Unknown probe layer {Kind}."),
        };
    }
}

/// <summary>One result of libtorch's fast CPU kernels that differs from the float64 reference by more than rounding.</summary>
/// <param name="What">The layer, shape, memory layout, precision and quantity (output, input gradient, weight gradient).</param>
/// <param name="RelativeError">Largest difference over the largest magnitude of the reference; NaN for non-finite values.</param>
/// <param name="Tolerance">The rounding allowed for this precision.</param>
public sealed record KernelDisagreement(string What, double RelativeError, double Tolerance)
{
    /// <inheritdoc />
    public override string ToString() => double.IsNaN(RelativeError)
        ? $"{What}: non-finite values"
        : $"{What}: off by {RelativeError:E1} of its largest value (allowed {Tolerance:E0})";
}
