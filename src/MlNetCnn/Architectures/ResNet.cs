using MlNetCnn.Persistence.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MlNetCnn.Architectures;

/// <summary>
/// ResNet (He et al., 2015) in torchvision's layout: <c>conv1</c>, <c>bn1</c>, a 3×3 stride-2 max-pooling, four stages
/// <c>layer1</c>..<c>layer4</c> of residual blocks (<c>layerK.N.conv1/bn1/conv2/bn2</c>, plus <c>conv3/bn3</c> in the
/// bottleneck blocks of ResNet-50, and <c>downsample.0/.1</c> where the shape changes), global average pooling and
/// <c>fc</c>. ResNet-50 uses torchvision's v1.5 bottleneck (stride on the 3×3 convolution).
/// <para>
/// With <c>cifarStem</c> it is the small-image variant (He et al.'s CIFAR stem as in the common ResNet18-for-CIFAR):
/// <c>conv1</c> is 3×3 stride 1 and there is no max-pooling, so a 32×32 image reaches <c>layer4</c> at 4×4 instead of 1×1.
/// </para>
/// Initialization as torchvision: Kaiming-normal (fan-out) convolutions, batch norms at weight 1 and bias 0.
/// </summary>
public sealed class ResNet : Module<Tensor, Tensor>, IOnnxModule
{
    private static readonly Dictionary<int, (bool Bottleneck, int[] Blocks)> s_depths = new()
    {
        [18] = (false, [2, 2, 2, 2]),
        [34] = (false, [3, 4, 6, 3]),
        [50] = (true, [3, 4, 6, 3]),
    };

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d? maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    private static (bool Bottleneck, int[] Blocks) Design(int depth)
        => s_depths.TryGetValue(depth, out var design) ? design
            : throw new ArgumentOutOfRangeException(nameof(depth), depth, "ResNet depth must be 18, 34 or 50.");

    /// <summary>The depths built: 18 and 34 (basic blocks), 50 (bottleneck blocks).</summary>
    public static IReadOnlyCollection<int> Depths => s_depths.Keys;

    /// <summary>Builds ResNet-<paramref name="depth"/>.</summary>
    /// <param name="depth">18, 34 or 50.</param>
    /// <param name="channels">Input channels (1 or 3).</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="cifarStem">True for the small-image stem described above.</param>
    public ResNet(int depth, int channels, int numClasses, bool cifarStem = false)
        : this($"ResNet{depth}", Design(depth).Bottleneck, Design(depth).Blocks, channels, numClasses, cifarStem)
    {
    }

    /// <summary>
    /// Builds a ResNet with <paramref name="blocksPerStage"/> residual blocks in <c>layer1</c>..<c>layer4</c>, e.g.
    /// [2, 2, 2, 3] for the ResNet-18 that ML.NET's <c>DnnImageFeaturizer</c> ships (a CNTK model).
    /// </summary>
    /// <param name="name">The module's name.</param>
    /// <param name="bottleneck">Bottleneck blocks (as ResNet-50) instead of basic blocks (as ResNet-18/34).</param>
    /// <param name="blocksPerStage">Four block counts, each at least 1.</param>
    /// <param name="channels">Input channels (1 or 3).</param>
    /// <param name="numClasses">Output classes.</param>
    /// <param name="cifarStem">True for the small-image stem described above.</param>
    public ResNet(string name, bool bottleneck, IReadOnlyList<int> blocksPerStage, int channels, int numClasses, bool cifarStem = false) : base(name)
    {
        if (blocksPerStage is not { Count: 4 } || blocksPerStage.Any(b => b < 1))
            throw new ArgumentException("A ResNet has four stages of at least one block each.", nameof(blocksPerStage));
        var design = (Bottleneck: bottleneck, Blocks: blocksPerStage);
        int expansion = design.Bottleneck ? Bottleneck.Expansion : 1;
        conv1 = cifarStem ? Layers.ConvBeforeNorm(channels, 64, 3, padding: 1) : Layers.ConvBeforeNorm(channels, 64, 7, stride: 2, padding: 3);
        bn1 = BatchNorm2d(64);
        relu = ReLU();
        maxpool = cifarStem ? null : MaxPool2d(3, stride: 2, padding: 1);
        int inChannels = 64;
        Sequential Stage(int planes, int blocks, int stride)
        {
            var stage = Sequential();
            for (int i = 0; i < blocks; i++)
            {
                int blockStride = i == 0 ? stride : 1;
                // A 1×1 projection where the block changes resolution or width, so the shortcut can be added. A bottleneck
                // block applies its stride as subsampling instead (see ResidualBlock), so there the convolution has stride 1.
                var downsample = blockStride != 1 || inChannels != planes * expansion
                    ? Layers.Indexed([
                        Layers.ConvBeforeNorm(inChannels, planes * expansion, 1, stride: design.Bottleneck ? 1 : blockStride),
                        BatchNorm2d(planes * expansion)])
                    : null;
                stage.append(design.Bottleneck
                    ? new Bottleneck(inChannels, planes, blockStride, downsample)
                    : new BasicBlock(inChannels, planes, blockStride, downsample));
                inChannels = planes * expansion;
            }
            return stage;
        }
        layer1 = Stage(64, design.Blocks[0], 1);
        layer2 = Stage(128, design.Blocks[1], 2);
        layer3 = Stage(256, design.Blocks[2], 2);
        layer4 = Stage(512, design.Blocks[3], 2);
        avgpool = AdaptiveAvgPool2d(1);
        fc = Linear(512 * expansion, numClasses);
        RegisterComponents();
        WeightInit.Apply(this, WeightInit.KaimingFanOut, null);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = relu.call(bn1.call(conv1.call(input)));
        if (maxpool is not null)
            x = maxpool.call(x);
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        return fc.call(avgpool.call(x).flatten(1)).MoveToOuterDisposeScope();
    }

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var x = writer.Call("relu", relu, writer.Call("bn1", bn1, writer.Call("conv1", conv1, input)));
        if (maxpool is not null)
            x = writer.Call("maxpool", maxpool, x);
        x = writer.Call("layer4", layer4, writer.Call("layer3", layer3, writer.Call("layer2", layer2, writer.Call("layer1", layer1, x))));
        return writer.Call("fc", fc, writer.Flatten(writer.Call("avgpool", avgpool, x)));
    }
}

/// <summary>A residual block: the residual branch plus the (possibly projected) input, then ReLU.</summary>
/// <remarks>
/// The projection is torchvision's strided 1×1 convolution. In the bottleneck blocks it is computed as subsampling
/// (<c>shortcutSubsampling</c>) followed by a stride-1 1×1 convolution: the same weights, the same result. The reason is
/// a libtorch 2.10 CPU bug: oneDNN's backward-data of a strided 1×1 convolution widening to 1,024 or more channels
/// (ResNet-50's <c>layer3</c> and <c>layer4</c> shortcuts, 512→1,024 and 1,024→2,048, at any image size and batch above
/// 1) divides by zero while choosing its blocking (<c>brg_blocking_t::est_eff_1x1</c>), and the SIGFPE ends the
/// process. Stride-1 1×1 convolutions take another path.
/// </remarks>
internal abstract class ResidualBlock(string name, int shortcutSubsampling) : Module<Tensor, Tensor>(name), IOnnxModule
{
    /// <summary>The branch without the final ReLU.</summary>
    protected abstract Tensor Residual(Tensor input);

    /// <summary>The 1×1 projection of the shortcut, or null for the identity.</summary>
    protected abstract Module<Tensor, Tensor>? Shortcut { get; }

    /// <summary>The ReLU applied inside the branch and after the addition (torchvision reuses one module).</summary>
    protected abstract Module<Tensor, Tensor> Activation { get; }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var identity = Shortcut is null ? input : Shortcut.call(shortcutSubsampling == 1 ? input : Subsample(input, shortcutSubsampling));
        return Activation.call(Residual(input) + identity).MoveToOuterDisposeScope();
    }

    /// <summary>The branch without the final ReLU, as ONNX nodes.</summary>
    protected abstract OnnxValue Residual(OnnxNetworkWriter writer, OnnxValue input);

    OnnxValue IOnnxModule.WriteOnnx(OnnxNetworkWriter writer, OnnxValue input)
    {
        var identity = input;
        if (Shortcut is not null)
        {
            var read = shortcutSubsampling == 1 ? input
                : writer.Slice(input, [2, 3], [0, 0], [long.MaxValue, long.MaxValue], [shortcutSubsampling, shortcutSubsampling]);
            identity = writer.Call("downsample", Shortcut, read);
        }
        return writer.Call("relu", Activation, writer.Add(Residual(writer, input), identity));
    }

    /// <summary>Every <paramref name="step"/>-th row and column from the first: what a stride-s 1×1 convolution reads.</summary>
    private static Tensor Subsample(Tensor input, int step)
        => input.slice(2, 0, input.shape[2], step).slice(3, 0, input.shape[3], step);
}

/// <summary>Two 3×3 convolutions (ResNet-18/34).</summary>
internal sealed class BasicBlock : ResidualBlock
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    public BasicBlock(int inChannels, int planes, int stride, Sequential? downsample) : base(nameof(BasicBlock), shortcutSubsampling: 1)
    {
        conv1 = Layers.ConvBeforeNorm(inChannels, planes, 3, stride: stride, padding: 1);
        bn1 = BatchNorm2d(planes);
        relu = ReLU();
        conv2 = Layers.ConvBeforeNorm(planes, planes, 3, padding: 1);
        bn2 = BatchNorm2d(planes);
        this.downsample = downsample;
        RegisterComponents();
    }

    protected override Module<Tensor, Tensor>? Shortcut => downsample;

    protected override Module<Tensor, Tensor> Activation => relu;

    protected override Tensor Residual(Tensor input) => bn2.call(conv2.call(relu.call(bn1.call(conv1.call(input)))));

    protected override OnnxValue Residual(OnnxNetworkWriter writer, OnnxValue input)
    {
        var x = writer.Call("relu", relu, writer.Call("bn1", bn1, writer.Call("conv1", conv1, input)));
        return writer.Call("bn2", bn2, writer.Call("conv2", conv2, x));
    }
}

/// <summary>1×1 reduce, 3×3 (carrying the stride, torchvision's v1.5), 1×1 expand by 4 (ResNet-50).</summary>
internal sealed class Bottleneck : ResidualBlock
{
    public const int Expansion = 4;

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Conv2d conv3;
    private readonly BatchNorm2d bn3;
    private readonly ReLU relu;
    private readonly Sequential? downsample;

    public Bottleneck(int inChannels, int planes, int stride, Sequential? downsample) : base(nameof(Bottleneck), shortcutSubsampling: stride)
    {
        conv1 = Layers.ConvBeforeNorm(inChannels, planes, 1);
        bn1 = BatchNorm2d(planes);
        conv2 = Layers.ConvBeforeNorm(planes, planes, 3, stride: stride, padding: 1);
        bn2 = BatchNorm2d(planes);
        conv3 = Layers.ConvBeforeNorm(planes, planes * Expansion, 1);
        bn3 = BatchNorm2d(planes * Expansion);
        relu = ReLU();
        this.downsample = downsample;
        RegisterComponents();
    }

    protected override Module<Tensor, Tensor>? Shortcut => downsample;

    protected override Module<Tensor, Tensor> Activation => relu;

    protected override Tensor Residual(Tensor input)
    {
        var x = relu.call(bn1.call(conv1.call(input)));
        x = relu.call(bn2.call(conv2.call(x)));
        return bn3.call(conv3.call(x));
    }

    protected override OnnxValue Residual(OnnxNetworkWriter writer, OnnxValue input)
    {
        var x = writer.Call("relu", relu, writer.Call("bn1", bn1, writer.Call("conv1", conv1, input)));
        x = writer.Call("relu", relu, writer.Call("bn2", bn2, writer.Call("conv2", conv2, x)));
        return writer.Call("bn3", bn3, writer.Call("conv3", conv3, x));
    }
}

/// <summary>Basic-block ResNets of any block counts, named <c>ResNet-2-2-2-3</c> (see <see cref="CnnArchitecture.ResNet(int[])"/>).</summary>
internal sealed class ResNetBlocksArchitecture(int[] blocks) : BuiltInArchitecture(NameOf(blocks), 32,
    "Resize the images (ResizeImages) to at least that size.")
{
    public const string NamePrefix = "ResNet-";

    // Every basic block's second 3×3 convolution, planes→planes, in stages of 64, 128, 256 and 512 planes.
    internal override double LeastStateValues(int channels, int height, int width, int numClasses)
        => blocks.Select((count, stage) => count * 9.0 * Math.Pow(64 << stage, 2)).Sum();

    public static string NameOf(int[] blocks) => NamePrefix + string.Join("-", blocks);

    /// <summary>The block counts in a name such as <c>ResNet-2-2-2-3</c>, or null.</summary>
    public static int[]? BlocksOf(string name)
    {
        if (!name.StartsWith(NamePrefix, StringComparison.Ordinal))
            return null;
        var parts = name[NamePrefix.Length..].Split('-');
        var blocks = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out blocks[i]) || blocks[i] < 1 || blocks[i] > 64)
                return null;
        return blocks.Length == 4 && NameOf(blocks) == name ? blocks : null;
    }

    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new ResNet(Name, bottleneck: false, blocks, channels, numClasses);
}

internal sealed class ResNetArchitecture(int depth, bool cifarStem) : BuiltInArchitecture(
    cifarStem ? $"ResNet{depth}Cifar" : $"ResNet{depth}",
    // The total stride is 32 (8 with the CIFAR stem): at that size the last stage sees 1×1; below it, only padding.
    cifarStem ? 8 : 32,
    cifarStem ? null
    : $"Use CnnArchitecture.ResNet{depth}Cifar for small images such as 28×28 or 32×32, or resize them (ResizeImages) "
    + "to at least that size.")
{
    protected override Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        => new ResNet(depth, channels, numClasses, cifarStem);
}
