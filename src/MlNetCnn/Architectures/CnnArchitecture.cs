using System.Collections.Concurrent;
using MlNetCnn.Architectures;
using MlNetCnn.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// A convolutional network design that <see cref="CnnTrainer"/> can train: it builds a TorchSharp module sized to the
/// input images and the number of classes. Use the built-in architectures (e.g. <see cref="LeNet5"/>) or
/// <see cref="Custom"/> for your own network. A saved model records the architecture's <see cref="Name"/>; loading it
/// looks the name up among the built-in and the registered custom architectures.
/// </summary>
public abstract class CnnArchitecture
{
    private static readonly ConcurrentDictionary<string, CnnArchitecture> s_registry = new(StringComparer.Ordinal);

    /// <summary>Creates an architecture and registers it under <paramref name="name"/>.</summary>
    /// <param name="name">The unique name saved with models; a model is loaded again by it.</param>
    /// <exception cref="ArgumentException">Another architecture is already registered under that name.</exception>
    protected CnnArchitecture(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        if (!s_registry.TryAdd(name, this))
            throw new ArgumentException($"An architecture named '{name}' is already registered; choose another name.", nameof(name));
    }

    // Serializes the get-or-register of the parameterized architectures (CnnNFeature, Mlp, ResNet9).
    private static readonly Lock s_registrationLock = new();

    /// <summary>LeNet-5 (6-16-120-84, ReLU and max-pooling); 1×28×28 inputs get the classic padding of 2 on the first convolution.</summary>
    public static CnnArchitecture LeNet5 { get; } = new LeNet5Architecture();

    /// <summary>The PyTorch tutorials' 2-convolution, 3-FC MNIST CNN (6-16-120-84, no padding); see
    /// <see cref="Architectures.TwoConvThreeFc"/> for how it differs from LeNet-5. From 16×16.</summary>
    public static CnnArchitecture TwoConvThreeFc { get; } = new TwoConvThreeFcArchitecture();

    /// <summary>
    /// Two VGG-style branches, one per input image, concatenated into one head; the input's channels are split in two
    /// halves (two images of equal channels, e.g. <c>Concatenate("Features", "Left", "Right")</c>). See
    /// <see cref="Architectures.TwoBranch"/>. From 4×4.
    /// </summary>
    public static CnnArchitecture TwoBranch { get; } = new TwoBranchArchitecture(null);

    /// <summary>AlexNet in torchvision's layout (61.1 M parameters at 3×224×224, 1,000 classes); from 63×63, designed for 224×224.</summary>
    public static CnnArchitecture AlexNet { get; } = new AlexNetArchitecture(smallInput: false);

    /// <summary>AlexNet for 28×28 and 32×32 images: 5×5 first convolution, 2×2 poolings, 1,024-wide classifier; see
    /// <see cref="Architectures.AlexNet"/>.</summary>
    public static CnnArchitecture AlexNetSmall { get; } = new AlexNetArchitecture(smallInput: true);

    /// <summary>VGG-11 with batch norm, torchvision's <c>vgg11_bn</c> (132.9 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture Vgg11 { get; } = new VggArchitecture(11, cifar: false);

    /// <summary>VGG-13 with batch norm, torchvision's <c>vgg13_bn</c> (133.1 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture Vgg13 { get; } = new VggArchitecture(13, cifar: false);

    /// <summary>VGG-16 with batch norm, torchvision's <c>vgg16_bn</c> (138.4 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture Vgg16 { get; } = new VggArchitecture(16, cifar: false);

    /// <summary>VGG-19 with batch norm, torchvision's <c>vgg19_bn</c> (143.7 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture Vgg19 { get; } = new VggArchitecture(19, cifar: false);

    /// <summary>VGG-11 with batch norm for CIFAR-size images: global pooling and one 512→classes layer; from 16×16.</summary>
    public static CnnArchitecture Vgg11Cifar { get; } = new VggArchitecture(11, cifar: true);

    /// <summary>VGG-13 with batch norm for CIFAR-size images: global pooling and one 512→classes layer; from 16×16.</summary>
    public static CnnArchitecture Vgg13Cifar { get; } = new VggArchitecture(13, cifar: true);

    /// <summary>VGG-16 with batch norm for CIFAR-size images: global pooling and one 512→classes layer; from 16×16.</summary>
    public static CnnArchitecture Vgg16Cifar { get; } = new VggArchitecture(16, cifar: true);

    /// <summary>VGG-19 with batch norm for CIFAR-size images: global pooling and one 512→classes layer; from 16×16.</summary>
    public static CnnArchitecture Vgg19Cifar { get; } = new VggArchitecture(19, cifar: true);

    /// <summary>Network in Network as d2l.ai builds it (NiN blocks, global average pooling, no fully connected layer);
    /// from 67×67, designed for 224×224.</summary>
    public static CnnArchitecture NiN { get; } = new NiNArchitecture();

    /// <summary>GoogLeNet (Inception v1) in torchvision's layout without auxiliary heads (6.6 M parameters at
    /// 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture GoogLeNet { get; } = new GoogLeNetArchitecture();

    /// <summary>ResNet-18, torchvision's layout (11.7 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture ResNet18 { get; } = new ResNetArchitecture(18, cifarStem: false);

    /// <summary>ResNet-34, torchvision's layout (21.8 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture ResNet34 { get; } = new ResNetArchitecture(34, cifarStem: false);

    /// <summary>ResNet-50 (v1.5 bottlenecks), torchvision's layout (25.6 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture ResNet50 { get; } = new ResNetArchitecture(50, cifarStem: false);

    /// <summary>ResNet-18 with the CIFAR stem (3×3 stride-1 <c>conv1</c>, no max-pooling) for 28×28 to 64×64 images; from 8×8.</summary>
    public static CnnArchitecture ResNet18Cifar { get; } = new ResNetArchitecture(18, cifarStem: true);

    /// <summary>ResNet-34 with the CIFAR stem (3×3 stride-1 <c>conv1</c>, no max-pooling); from 8×8.</summary>
    public static CnnArchitecture ResNet34Cifar { get; } = new ResNetArchitecture(34, cifarStem: true);

    /// <summary>ResNet-50 with the CIFAR stem (3×3 stride-1 <c>conv1</c>, no max-pooling); from 8×8.</summary>
    public static CnnArchitecture ResNet50Cifar { get; } = new ResNetArchitecture(50, cifarStem: true);

    /// <summary>
    /// ResNet-9, the DAWNBench CIFAR-10 network, with channel widths <paramref name="width"/>, 2×, 4× and 8× that (see
    /// <see cref="Architectures.ResNet9"/>); named <c>ResNet9-{width}</c>. 64 is the original (6.57 M parameters); 32
    /// (1.65 M) is the fast CPU choice for 32×32 images. From 8×8. Calling it again with the same width returns the same architecture.
    /// </summary>
    /// <param name="width">Channels of the first stage.</param>
    /// <returns>The architecture named <c>ResNet9-{width}</c>.</returns>
    public static CnnArchitecture ResNet9(int width = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        return GetOrRegister(ResNet9Architecture.NamePrefix + width, () => new ResNet9Architecture(width));
    }

    /// <summary>
    /// airbench94's CIFAR-10 network (see <see cref="Architectures.AirbenchNet"/>): a 2×2 whitening convolution, three
    /// convolution groups of <paramref name="width"/>, 4× and 4× that many channels with shift-only batch norms and GELU,
    /// and a scaled linear head; named <c>AirbenchNet-{width}</c>. Trained as airbench trains it (the <c>--recipe fast</c>
    /// of the Cifar10FromFolders example: <see cref="CnnTrainerOptions.PatchWhitening"/>,
    /// <see cref="WeightInitialization.Identity"/>, <see cref="CnnTrainerOptions.BatchNormLearningRateFactor"/>, Nesterov SGD,
    /// <see cref="LearningRateSchedule.Triangle"/>, <see cref="CnnTrainerOptions.Lookahead"/>, alternating flips and
    /// test-time translations) it reaches CIFAR-10 accuracy in the fewest operations. From 9×9. Calling it again with the
    /// same width returns the same architecture.
    /// </summary>
    /// <param name="width">Channels of the first group (64 in airbench94).</param>
    /// <returns>The architecture named <c>AirbenchNet-{width}</c>.</returns>
    public static CnnArchitecture AirbenchNet(int width = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        return GetOrRegister(AirbenchNetArchitecture.NamePrefix + width, () => new AirbenchNetArchitecture(width));
    }

    /// <summary>
    /// A ResNet of basic blocks (as ResNet-18/34, torchvision's layout and names) with <paramref name="blocksPerStage"/>
    /// blocks in its four stages, named <c>ResNet-a-b-c-d</c>. <c>ResNet(2, 2, 2, 3)</c> is the network of ML.NET's
    /// pretrained ResNet-18 (<see cref="PretrainedWeights.MlNetResNet18"/>). From 32×32. Calling it again with the same
    /// counts returns the same architecture.
    /// </summary>
    /// <param name="blocksPerStage">The residual blocks of <c>layer1</c> to <c>layer4</c>: four counts from 1 to 64.</param>
    /// <returns>The architecture named <c>ResNet-a-b-c-d</c>.</returns>
    public static CnnArchitecture ResNet(params int[] blocksPerStage)
    {
        ArgumentNullException.ThrowIfNull(blocksPerStage);
        if (blocksPerStage.Length != 4 || blocksPerStage.Any(b => b is < 1 or > 64))
            throw new ArgumentException("Give four block counts from 1 to 64, e.g. ResNet(2, 2, 2, 3).", nameof(blocksPerStage));
        int[] blocks = blocksPerStage.ToArray();
        return GetOrRegister(ResNetBlocksArchitecture.NameOf(blocks), () => new ResNetBlocksArchitecture(blocks));
    }

    /// <summary>DenseNet-121, torchvision's layout (8.0 M parameters at 3×224×224, 1,000 classes); from 32×32.</summary>
    public static CnnArchitecture DenseNet121 { get; } = new DenseNetArchitecture(cifar: false);

    /// <summary>DenseNet-BC for CIFAR-size images: DenseNet-121's blocks (6-12-24-16) with growth 16 and a 3×3 stem; from 8×8.</summary>
    public static CnnArchitecture DenseNetCifar { get; } = new DenseNetArchitecture(cifar: true);

    /// <summary>
    /// The teaching material's <c>CNN(n_feature)</c> (two 5×5 convolutions of <paramref name="nFeature"/> channels, FC 50,
    /// FC classes), named <c>CnnNFeature{n}</c>; the default has 6,422 parameters on 1×28×28 with 10 classes. From 16×16.
    /// Calling it again with the same width returns the same architecture.
    /// </summary>
    /// <param name="nFeature">Channels of both convolutions.</param>
    /// <returns>The architecture named <c>CnnNFeature{nFeature}</c>.</returns>
    public static CnnArchitecture CnnNFeature(int nFeature = 6)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nFeature, 1);
        return GetOrRegister(CnnNFeatureArchitecture.NamePrefix + nFeature, () => new CnnNFeatureArchitecture(nFeature));
    }

    /// <summary>
    /// The teaching material's fully connected baseline <c>FC2Layer(C·H·W, hidden, classes)</c>, named <c>Mlp{hidden}</c>;
    /// the default has 6,442 parameters on 1×28×28 with 10 classes. Calling it again with the same width returns the same architecture.
    /// </summary>
    /// <param name="hidden">Units of the hidden layer.</param>
    /// <returns>The architecture named <c>Mlp{hidden}</c>.</returns>
    public static CnnArchitecture Mlp(int hidden = 8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        return GetOrRegister(MlpArchitecture.NamePrefix + hidden, () => new MlpArchitecture(hidden));
    }

    private static T GetOrRegister<T>(string name, Func<T> create) where T : CnnArchitecture
    {
        lock (s_registrationLock)
        {
            if (!s_registry.TryGetValue(name, out var existing))
                return create();
            return existing as T ?? throw new ArgumentException($"The name '{name}' is already taken by a custom architecture.", nameof(name));
        }
    }

    // Parameterized built-ins are registered on first use, so a saved model's name may not be known yet.
    private static CnnArchitecture? FromParameterizedName(string name, StringComparison comparison)
    {
        int? Width(string name, string prefix)
            => name.StartsWith(prefix, comparison)
            && int.TryParse(name.AsSpan(prefix.Length), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out int width)
               && width >= 1 && string.Equals(name, prefix + width, comparison) ? width : null;
        if (Width(name, CnnNFeatureArchitecture.NamePrefix) is int nFeature)
            return CnnNFeature(nFeature);
        string resNetName = name.StartsWith(ResNetBlocksArchitecture.NamePrefix, comparison)
            ? ResNetBlocksArchitecture.NamePrefix + name[ResNetBlocksArchitecture.NamePrefix.Length..] : name;
        if (ResNetBlocksArchitecture.BlocksOf(resNetName) is { } blocks)
            return ResNet(blocks);
        if (Width(name, ResNet9Architecture.NamePrefix) is int resNet9Width)
            return ResNet9(resNet9Width);
        if (Width(name, AirbenchNetArchitecture.NamePrefix) is int airbenchWidth)
            return AirbenchNet(airbenchWidth);
        return Width(name, MlpArchitecture.NamePrefix) is int hidden ? Mlp(hidden) : null;
    }

    /// <summary>The name saved with a model and shown in summaries.</summary>
    public string Name { get; }

    /// <summary>The smallest input height and width the network accepts.</summary>
    public virtual int MinimumImageSize => 1;

    /// <summary>
    /// Whether the network's parameter count grows with the input's height and width (a fully connected layer over
    /// the flattened features), which a loaded model's recorded size is checked against; unknown networks are assumed to.
    /// </summary>
    internal virtual bool SizeGrowsWithImage => true;

    /// <summary>
    /// A lower bound on the values in the network's state (parameters and buffers) at this input size and class count,
    /// computed without building the network; 0 where unknown. The parameterized built-ins grow with the parameter in
    /// their name, so a model record whose name asks for a wider network than its weights hold is refused before that
    /// network is allocated.
    /// </summary>
    internal virtual double LeastStateValues(int channels, int height, int width, int numClasses) => 0;

    /// <summary>
    /// Builds a freshly initialized network for images of <paramref name="channels"/>×<paramref name="height"/>×<paramref name="width"/>
    /// (planar CHW floats) and <paramref name="numClasses"/> classes. Its forward pass maps a batch [N, C, H, W] to logits [N, numClasses].
    /// </summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Input height in pixels.</param>
    /// <param name="width">Input width in pixels.</param>
    /// <param name="numClasses">Output classes, at least 2.</param>
    /// <returns>The network, in training mode; the caller disposes it.</returns>
    public nn.Module<Tensor, Tensor> CreateModule(int channels, int height, int width, int numClasses)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(numClasses, 2);
        if (height < MinimumImageSize || width < MinimumImageSize)
            throw new ArgumentException(($"{Name} needs images of at least {MinimumImageSize}×{MinimumImageSize} pixels, "
                + $"but the input is {height}×{width}. {SmallInputAdvice}").TrimEnd());
        TorchRuntime.EnsureInitialized();
        return Build(channels, height, width, numClasses);
    }

    /// <summary>Builds the module; arguments are already validated.</summary>
    /// <param name="channels">Input channels.</param>
    /// <param name="height">Input height in pixels, at least <see cref="MinimumImageSize"/>.</param>
    /// <param name="width">Input width in pixels, at least <see cref="MinimumImageSize"/>.</param>
    /// <param name="numClasses">Output classes, at least 2.</param>
    /// <returns>The network.</returns>
    protected abstract nn.Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses);

    /// <summary>Extra advice appended to the too-small-input error (e.g. which variant to use instead).</summary>
    protected virtual string SmallInputAdvice => "Resize the images (ResizeImages) to at least that size.";

    /// <summary>
    /// Registers a user-defined network under a unique <paramref name="name"/>. The factory receives channels, height,
    /// width and the number of classes. Register it again (same name) before loading a model saved with it.
    /// </summary>
    /// <param name="name">The unique name saved with models that use it.</param>
    /// <param name="factory">Builds the network from channels, height, width and the number of classes.</param>
    /// <returns>The registered architecture, for <see cref="CnnTrainerOptions.Architecture"/>.</returns>
    public static CnnArchitecture Custom(string name, Func<int, int, int, int, nn.Module<Tensor, Tensor>> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return new CustomArchitecture(name, factory);
    }

    /// <summary>
    /// Finds a built-in or registered architecture by its <see cref="Name"/>, e.g. <c>"ResNet18Cifar"</c>, or a
    /// parameterized built-in by its name with the parameter: <c>"ResNet9-32"</c>, <c>"CnnNFeature6"</c>, <c>"Mlp8"</c>, <c>"ResNet-2-2-2-3"</c>.
    /// The exact name wins; otherwise a name that differs only in case matches when exactly one architecture has it
    /// (<c>"resnet18cifar"</c>), as a person types it.
    /// </summary>
    /// <param name="name">The architecture's name.</param>
    /// <returns>The architecture.</returns>
    /// <exception cref="KeyNotFoundException">No architecture has that name; the message lists the known ones.</exception>
    public static CnnArchitecture FromName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (s_registry.TryGetValue(name, out var architecture) || (architecture = FromParameterizedName(name, StringComparison.Ordinal)) is not null)
            return architecture;
        var sameButCase = s_registry.Keys.Where(key => string.Equals(key, name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (sameButCase.Count == 1)
            return s_registry[sameButCase[0]];
        if (sameButCase.Count == 0 && FromParameterizedName(name, StringComparison.OrdinalIgnoreCase) is { } parameterized)
            return parameterized;
        string known = string.Join(", ", s_registry.Keys.Order(StringComparer.Ordinal));
        throw new KeyNotFoundException(sameButCase.Count > 1
            ? $"The CNN architecture name '{name}' matches "
            + $"{string.Join(" and ", sameButCase.Order(StringComparer.Ordinal))} but none exactly; give its exact "
            + "spelling."
            : $"No CNN architecture named '{name}' is known. Built-in and registered ones: {known}; parameterized built-ins: " +
              $"{CnnNFeatureArchitecture.NamePrefix}<n> (e.g. {CnnNFeatureArchitecture.NamePrefix}6), " +
              $"{MlpArchitecture.NamePrefix}<hidden> (e.g. {MlpArchitecture.NamePrefix}8), " +
              $"{ResNet9Architecture.NamePrefix}<width> (e.g. {ResNet9Architecture.NamePrefix}32), " +
              $"{AirbenchNetArchitecture.NamePrefix}<width> (e.g. {AirbenchNetArchitecture.NamePrefix}64), " +
              $"{ResNetBlocksArchitecture.NamePrefix}a-b-c-d (e.g. {ResNetBlocksArchitecture.NamePrefix}2-2-2-3). " +
              "A model trained with a custom architecture needs CnnArchitecture.Custom(name, factory) called again before it is loaded.");
    }

    /// <summary>All architectures known now: the built-in ones and any registered with <see cref="Custom"/>.</summary>
    public static IReadOnlyList<CnnArchitecture> All
    {
        get => s_registry.Values.OrderBy(a => a.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Builds the network for <paramref name="shape"/> and <paramref name="numClasses"/> and lists its layers, output
    /// shapes, parameters and multiply-accumulates (see <see cref="CnnModelSummary"/>); the network is freed afterwards.
    /// </summary>
    /// <param name="shape">The input image shape.</param>
    /// <param name="numClasses">Output classes.</param>
    /// <returns>The layer table and totals.</returns>
    public CnnModelSummary Summarize(ImageShape shape, int numClasses)
    {
        using var module = CreateModule(shape.Channels, shape.Height, shape.Width, numClasses);
        return CnnModelSummary.Create(module, shape, Name);
    }

    /// <inheritdoc />
    public override string ToString() => Name;

    /// <summary>True for a user's factory (<see cref="Custom"/>), whose network may hold tensors of its own.</summary>
    internal virtual bool IsCustom => false;

    /// <summary>
    /// Whether the network computes the same on a batch in channels-last memory (see <see cref="NetworkCall"/>): true
    /// for the built-in ones, which never <c>view</c> a tensor; a user's network is not assumed to.
    /// </summary>
    internal virtual bool ComputesOnChannelsLastMemory => false;

    private sealed class CustomArchitecture(string name, Func<int, int, int, int, nn.Module<Tensor, Tensor>> factory) : CnnArchitecture(name)
    {
        internal override bool IsCustom => true;

        protected override nn.Module<Tensor, Tensor> Build(int channels, int height, int width, int numClasses)
        {
            var module = factory(channels, height, width, numClasses)
                ?? throw new InvalidOperationException($"The factory of custom architecture '{Name}' returned null.");
            try
            {
                CheckOutputWidth(module, channels, height, width, numClasses);
                return module;
            }
            catch
            {
                module.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Runs one zero image through a user's network (evaluation mode, so no statistics change and no random numbers
        /// are drawn) so that a head of the wrong width fails here, naming the architecture, instead of inside libtorch's loss.
        /// </summary>
        private void CheckOutputWidth(nn.Module<Tensor, Tensor> module, int channels, int height, int width, int numClasses)
        {
            bool training = module.training;
            long[] shape;
            module.eval();
            try
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                shape = module.call(zeros(1, channels, height, width)).shape;
            }
            finally
            {
                module.train(training);
            }
            if (shape.Length != 2 || shape[0] != 1 || shape[1] != numClasses)
                throw new ArgumentException($"The custom architecture '{Name}' maps a batch of one " +
                    $"{channels}×{height}×{width} image to [{string.Join(", ", shape)}], " +
                    $"but training needs [1, {numClasses}]: one logit per class for the {numClasses} classes of the " +
                    "label. Size its last layer with the factory's fourth argument (the class count).");
        }
    }
}
