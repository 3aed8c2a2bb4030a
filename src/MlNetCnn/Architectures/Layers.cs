using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>Builders and size arithmetic shared by the architecture families.</summary>
internal static class Layers
{
    /// <summary>The output length of a convolution or pooling along one axis (floor mode, as PyTorch computes it).</summary>
    public static int OutputSize(int size, int kernel, int stride = 1, int padding = 0) => (size + 2 * padding - kernel) / stride + 1;

    /// <summary>A convolution without bias: the batch norm after it has its own shift, so a bias would be redundant
    /// (torchvision does the same).</summary>
    public static Conv2d ConvBeforeNorm(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0)
        => Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, bias: false);

    /// <summary>The head of AlexNet and VGG: pools the feature map (which it disposes), flattens it and classifies.</summary>
    public static Tensor PoolAndClassify(Tensor features, Module<Tensor, Tensor> pool, Module<Tensor, Tensor> classifier)
    {
        using (features)
        using (var pooled = pool.call(features))
        using (var flat = pooled.flatten(1))
            return classifier.call(flat);
    }

    /// <summary>A Sequential whose children are named "0", "1", ... in order, like an unnamed PyTorch nn.Sequential.</summary>
    public static Sequential Indexed(IEnumerable<Module<Tensor, Tensor>> modules)
    {
        var sequential = Sequential();
        foreach (var module in modules)
            sequential.append(module);
        return sequential;
    }
}
