using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// The teaching material's two-input network: two VGG-style branches (conv 3×3-BN-ReLU ×2, max-pool; twice, 32 then
/// 64 channels), one per image, whose feature maps are concatenated along the channels and classified by one head
/// (global average pooling → <c>fc</c>). The two images arrive as one tensor whose first <c>firstBranchChannels</c>
/// channels are the first image: in an ML.NET pipeline, <c>Concatenate("Features", "Left", "Right")</c> of two
/// ExtractPixels columns of the same size builds exactly that (give the trainer ImageHeight and ImageWidth, since
/// Concatenate drops the dimensions).
/// </summary>
public sealed class TwoBranch : Module<Tensor, Tensor>, IOnnxModule
{
    private readonly int _firstBranchChannels;
    private readonly Sequential branch1;
    private readonly Sequential branch2;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    /// <summary>Builds the network; <paramref name="channels"/> counts both images' channels.</summary>
    /// <param name="channels">Input channels of both images together.</param>
    /// <param name="firstBranchChannels">How many of them (the first ones) belong to the first image; the rest go to the second branch.</param>
    /// <param name="numClasses">Output classes.</param>
    public TwoBranch(int channels, int firstBranchChannels, int numClasses) : base(nameof(TwoBranch))
    {
        if (firstBranchChannels < 1 || firstBranchChannels >= channels)
            throw new ArgumentException($"A two-branch network needs channels for both images: {channels} channels "
                + $"cannot be split after {firstBranchChannels}.");
        _firstBranchChannels = firstBranchChannels;
        branch1 = Branch(firstBranchChannels);
        branch2 = Branch(channels - firstBranchChannels);
        avgpool = AdaptiveAvgPool2d(1);
        fc = Linear(128, numClasses);
        RegisterComponents();
    }

    private static Sequential Branch(int inChannels)
    {
        var layers = new List<Module<Tensor, Tensor>>();
        int previous = inChannels;
        foreach (int width in new[] { 32, 64 })
        {
            layers.AddRange([Layers.ConvBeforeNorm(previous, width, 3, padding: 1), BatchNorm2d(width), ReLU()]);
            layers.AddRange([Layers.ConvBeforeNorm(width, width, 3, padding: 1), BatchNorm2d(width), ReLU(), MaxPool2d(2)]);
            previous = width;
        }
        return Layers.Indexed(layers);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var first = branch1.call(input.narrow(1, 0, _firstBranchChannels));
        var second = branch2.call(input.narrow(1, _firstBranchChannels, input.shape[1] - _firstBranchChannels));
        var pooled = avgpool.call(cat([first, second], 1)).flatten(1);
        return fc.call(pooled).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var first = writer.Call("branch1", branch1, writer.Slice(input, [1], [0], [_firstBranchChannels], [1]));
        var second = writer.Call("branch2", branch2, writer.Slice(input, [1], [_firstBranchChannels], [input[1]], [1]));
        return writer.Call("fc", fc, writer.Flatten(writer.Call("avgpool", avgpool, writer.ConcatChannels([first, second]))));
    }
}

/// <summary>Splits the input channels in two equal halves unless told otherwise.</summary>
internal sealed class TwoBranchArchitecture(int? firstBranchChannels)
    : BuiltInArchitecture(firstBranchChannels is { } c ? $"TwoBranch{c}" : "TwoBranch", 4)
{
    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new TwoBranch(channels, firstBranchChannels ?? channels / 2, numClasses);
}
