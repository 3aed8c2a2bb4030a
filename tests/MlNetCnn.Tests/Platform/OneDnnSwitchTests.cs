using MlNetCnn.Platform;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

// The switch is process-wide and changes results in the last bits, which tests of bit-exact reproducibility would see:
// this one runs alone.
[Collection(nameof(OneDnnSwitchTests))]
public sealed class OneDnnSwitchTests
{
    [Fact]
    public void TurningOneDnnOffKeepsConvolutionResultsAndGradients()
    {
        // Where the kernel check turned oneDNN off, its kernels are known wrong here: KernelCheckTests cover that case.
        if (!TorchRuntime.KernelCheck.UsesOneDnn)
            return;
        Assert.True(TorchRuntime.UseOneDnn);
        var (withOneDnn, gradientWithOneDnn) = ConvolutionAndGradient();
        TorchRuntime.UseOneDnn = false;
        try
        {
            Assert.False(TorchRuntime.UseOneDnn);
            var (without, gradientWithout) = ConvolutionAndGradient();
            AssertAgreeToRounding(withOneDnn, without, "outputs");
            AssertAgreeToRounding(gradientWithOneDnn, gradientWithout, "weight gradients");
        }
        finally
        {
            TorchRuntime.UseOneDnn = true;
        }
        Assert.True(TorchRuntime.UseOneDnn);
    }

    // Relative to the largest value: each gradient element sums thousands of products up to about 16,000, where float32
    // rounding in a different summation order (kernels, thread count) moves it by about 0.01; a wrong kernel moves it by
    // whole units.
    private static void AssertAgreeToRounding(float[] expected, float[] actual, string what)
    {
        float scale = expected.Max(Math.Abs), difference = expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(difference <= 1e-5f * scale, $"{what} differ by {difference}, more than 1e-5 of their largest magnitude {scale}");
    }

    // CNN(n_feature = 6)'s second convolution: 6 channels, 5×5, on a batch large enough for libtorch to pick oneDNN.
    private static (float[] Output, float[] WeightGradient) ConvolutionAndGradient()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(3);
        var input = randn([32, 6, 12, 12], generator: generator);
        var weight = randn([6, 6, 5, 5], generator: generator).requires_grad_();
        var output = nn.functional.conv2d(input, weight);
        output.square().sum().backward();
        return (output.detach().data<float>().ToArray(), weight.grad!.data<float>().ToArray());
    }
}

[CollectionDefinition(nameof(OneDnnSwitchTests), DisableParallelization = true)]
public sealed class OneDnnSwitchTestsCollection;
