using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// The architecture zoo is exact (torchvision's parameter counts and state_dict keys), runs at its smallest and typical
/// sizes, learns, and explains inputs that are too small. Large ImageNet networks are built only to count or list keys
/// and are disposed at once; no forward pass at 224×224.
/// </summary>
[Collection(nameof(ArchitectureTests))]
public sealed class ArchitectureTests
{
    private static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());

    private static long ParameterCount(CnnArchitecture architecture, int channels, int size, int classes)
    {
        using var module = architecture.CreateModule(channels, size, size, classes);
        return ParameterCount(module);
    }

    [Theory]
    [InlineData("AlexNet", 61_100_840)]
    [InlineData("Vgg11", 132_868_840)]
    [InlineData("Vgg13", 133_053_736)]
    [InlineData("Vgg16", 138_365_992)]
    [InlineData("Vgg19", 143_678_248)]
    [InlineData("ResNet18", 11_689_512)]
    [InlineData("ResNet34", 21_797_672)]
    [InlineData("ResNet50", 25_557_032)]
    [InlineData("GoogLeNet", 6_624_904)]
    [InlineData("DenseNet121", 7_978_856)]
    public void ImageNetParameterCountsEqualTorchvision(string name, long expected)
        => Assert.Equal(expected, ParameterCount(CnnArchitecture.FromName(name), 3, 224, 1000));

    [Theory]
    [InlineData("LeNet5", 1, 28, 61_706)]
    [InlineData("LeNet5", 3, 32, 62_006)]
    [InlineData("TwoConvThreeFc", 1, 28, 44_426)]
    [InlineData("TwoConvThreeFc", 3, 32, 62_006)]
    [InlineData("CnnNFeature6", 1, 28, 6_422)]
    [InlineData("Mlp8", 1, 28, 6_442)]
    // The common CIFAR implementations these follow (kuangliu/pytorch-cifar) have the same counts.
    [InlineData("ResNet18Cifar", 3, 32, 11_173_962)]
    [InlineData("Vgg16Cifar", 3, 32, 14_728_266)]
    // Myrtle.ai's DAWNBench ResNet-9 (6.57 M) and its half-width version.
    [InlineData("ResNet9-64", 3, 32, 6_573_120)]
    [InlineData("ResNet9-32", 3, 32, 1_646_112)]
    public void SmallNetworkParameterCounts(string name, int channels, int size, long expected)
        => Assert.Equal(expected, ParameterCount(CnnArchitecture.FromName(name), channels, size, 10));

    [Fact]
    public void ResNet18StateDictHasTorchvisionsKeys()
    {
        using var module = CnnArchitecture.ResNet18.CreateModule(3, 224, 224, 1000);
        var keys = module.state_dict().Keys.ToHashSet();
        Assert.Equal(122, keys.Count);
        Assert.Superset(new HashSet<string>
        {
            "conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer1.1.bn2.bias",
            "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_mean", "layer4.1.conv2.weight", "fc.weight", "fc.bias",
        }, keys.ToHashSet());
        Assert.DoesNotContain("layer1.0.downsample.0.weight", keys);
    }

    [Fact]
    public void ResNet50StateDictHasBottleneckKeys()
    {
        using var module = CnnArchitecture.ResNet50.CreateModule(3, 224, 224, 1000);
        var keys = module.state_dict().Keys.ToHashSet();
        Assert.Equal(320, keys.Count);
        Assert.Superset(new HashSet<string> { "layer1.0.conv3.weight", "layer1.0.bn3.running_var",
            "layer1.0.downsample.0.weight", "layer4.2.bn3.weight" }, keys);
    }

    [Fact]
    public void Vgg16StateDictHasTorchvisionsKeys()
    {
        using var module = CnnArchitecture.Vgg16.CreateModule(3, 32, 32, 1000);
        var keys = module.state_dict().Keys.ToHashSet();
        Assert.Equal(13 * 2 + 13 * 5 + 3 * 2, keys.Count);
        Assert.Superset(new HashSet<string>
        {
            "features.0.weight", "features.0.bias", "features.1.running_var", "features.41.weight",
                "classifier.0.weight", "classifier.3.bias", "classifier.6.weight",
        }, keys);
    }

    [Fact]
    public void DenseNet121StateDictHasTorchvisionsKeys()
    {
        using var module = CnnArchitecture.DenseNet121.CreateModule(3, 224, 224, 1000);
        var keys = module.state_dict().Keys.ToHashSet();
        Assert.Equal(727, keys.Count);
        Assert.Superset(new HashSet<string>
        {
            "features.conv0.weight", "features.norm0.running_mean", "features.denseblock1.denselayer1.norm1.weight",
            "features.denseblock1.denselayer1.conv2.weight", "features.denseblock4.denselayer16.conv2.weight",
            "features.transition1.conv.weight", "features.transition3.norm.running_var", "features.norm5.bias", "classifier.weight",
        }, keys);
    }

    [Fact]
    public void GoogLeNetStateDictHasTorchvisionsKeys()
    {
        using var module = CnnArchitecture.GoogLeNet.CreateModule(3, 224, 224, 1000);
        var state = module.state_dict();
        Assert.Equal(57 * 6 + 2, state.Count);
        Assert.Superset(new HashSet<string>
        {
            "conv1.conv.weight", "conv1.bn.weight", "conv3.bn.num_batches_tracked", "inception3a.branch1.conv.weight",
            "inception3a.branch3.1.conv.weight", "inception5b.branch4.1.bn.running_mean", "fc.weight", "fc.bias",
        }, state.Keys.ToHashSet());
        // torchvision's quirk: the "5×5" branch is 3×3.
        Assert.Equal([32L, 16, 3, 3], state["inception3a.branch3.1.conv.weight"].shape);
    }

    [Fact]
    public void NiNAndTheSmallNetworksUseTheirReferenceNames()
    {
        using var nin = CnnArchitecture.NiN.CreateModule(1, 224, 224, 10);
        Assert.Contains("net.7.4.weight", nin.state_dict().Keys);
        Assert.DoesNotContain(nin.parameters(), p => p.shape.Length == 2); // no fully connected layer
        using var cnn = CnnArchitecture.CnnNFeature().CreateModule(1, 28, 28, 10);
        Assert.Equal(["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "fc1.bias", "fc1.weight", "fc2.bias",
            "fc2.weight"], cnn.state_dict().Keys.Order());
        using var mlp = CnnArchitecture.Mlp().CreateModule(1, 28, 28, 10);
        Assert.Equal(["network.0.bias", "network.0.weight", "network.2.bias", "network.2.weight", "network.4.bias",
            "network.4.weight"], mlp.state_dict().Keys.Order());
    }

    public static TheoryData<string, int, int> ForwardCases()
    {
        var cases = new TheoryData<string, int, int>();
        // The ImageNet networks at their smallest size only: a 224×224 pass would cost seconds each.
        string[] imageNet = ["AlexNet", "Vgg11", "NiN", "GoogLeNet", "ResNet18", "ResNet50", "DenseNet121"];
        foreach (var name in imageNet)
            cases.Add(name, 3, CnnArchitecture.FromName(name).MinimumImageSize);
        string[] small = ["LeNet5", "TwoConvThreeFc", "CnnNFeature6", "Mlp8", "AlexNetSmall", "Vgg11Cifar", "ResNet18Cifar", "ResNet9-32"];
        foreach (var name in small)
        {
            cases.Add(name, 1, CnnArchitecture.FromName(name).MinimumImageSize);
            cases.Add(name, 1, 28);
            cases.Add(name, 3, 32);
        }
        foreach (var name in new[] { "Vgg16Cifar", "ResNet50Cifar", "DenseNetCifar" })
            cases.Add(name, 1, CnnArchitecture.FromName(name).MinimumImageSize);
        cases.Add("DenseNetCifar", 3, 32);
        return cases;
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardPassGivesOneLogitPerClass(string name, int channels, int size)
    {
        bool finite = false;
        for (int attempt = 0; attempt < KernelRetries && !finite; attempt++)
        {
            using var scope = NewDisposeScope();
            using var module = CnnArchitecture.FromName(name).CreateModule(channels, size, size + 3, 7);
            // Training mode (batch norm needs two images then) and a non-square input check both axes.
            module.train();
            var logits = module.call(randn(2, channels, size, size + 3));
            Assert.Equal([2L, 7], logits.shape);
            finite = logits.isfinite().all().item<bool>();
        }
        Assert.True(finite, $"{name}: non-finite logits in all {KernelRetries} attempts");
    }

    // This libtorch CPU build now and then returns non-finite values for the same seeded input and weights (README,
    // Known issues): a check that fails that way is repeated with a fresh network, and fails only if it always does.
    private const int KernelRetries = 3;

    [Theory]
    [InlineData("LeNet5", 1, 28)]
    [InlineData("TwoConvThreeFc", 1, 28)]
    [InlineData("CnnNFeature6", 1, 28)]
    [InlineData("Mlp8", 1, 28)]
    [InlineData("AlexNetSmall", 3, 16)]
    [InlineData("Vgg11Cifar", 3, 16)]
    [InlineData("ResNet18Cifar", 3, 8)]
    // Its 512→1024 and 1024→2048 shortcuts once met a libtorch CPU crash (ResidualBlock's remarks): this must not abort.
    [InlineData("ResNet50", 3, 32)]
    [InlineData("ResNet9-16", 3, 8)]
    [InlineData("DenseNetCifar", 3, 8)]
    public void AFewAdamStepsLowerTheLoss(string name, int channels, int size)
    {
        List<float> losses = [];
        for (int attempt = 0; attempt < KernelRetries && (attempt == 0 || !losses.All(float.IsFinite)); attempt++)
            losses = AdamLosses(name, channels, size);
        Assert.True(losses[^1] < losses[0], $"{name}: losses {string.Join(", ", losses)}");
    }

    private static List<float> AdamLosses(string name, int channels, int size)
    {
        torch.random.manual_seed(1);
        using var scope = NewDisposeScope();
        using var module = CnnArchitecture.FromName(name).CreateModule(channels, size, size, 4);
        module.train();
        // Four images, one per class: a few steps must start memorizing them.
        var images = randn(4, channels, size, size);
        var labels = tensor(new long[] { 0, 1, 2, 3 });
        using var optimizer = optim.Adam(module.parameters(), 1e-3);
        var losses = new List<float>();
        for (int step = 0; step < 6; step++)
        {
            using var stepScope = NewDisposeScope();
            // The same dropout masks every step, so the loss only moves with the weights.
            torch.random.manual_seed(2);
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(module.call(images), labels);
            loss.backward();
            optimizer.step();
            losses.Add(loss.item<float>());
        }
        return losses;
    }

    [Theory]
    [InlineData("AlexNet", 28, "63×63", "AlexNetSmall")]
    [InlineData("Vgg16", 28, "32×32", "Vgg16Cifar")]
    [InlineData("ResNet18", 28, "32×32", "ResNet18Cifar")]
    [InlineData("ResNet50", 28, "32×32", "ResNet50Cifar")]
    [InlineData("DenseNet121", 28, "32×32", "DenseNetCifar")]
    [InlineData("NiN", 32, "67×67", "AlexNetSmall")]
    [InlineData("GoogLeNet", 28, "32×32", "ResNet18Cifar")]
    [InlineData("TwoConvThreeFc", 12, "16×16", "LeNet5")]
    public void TooSmallInputNamesTheMinimumAndTheVariantToUse(string name, int size, string minimum, string variant)
    {
        var error = Assert.Throws<ArgumentException>(() => CnnArchitecture.FromName(name).CreateModule(1, size, size, 10));
        Assert.Contains($"at least {minimum}", error.Message);
        Assert.Contains(variant, error.Message);
        Assert.Contains($"{size}×{size}", error.Message);
    }

    [Fact]
    public void ParameterizedArchitecturesAreRegisteredOncePerWidth()
    {
        Assert.Same(CnnArchitecture.CnnNFeature(6), CnnArchitecture.CnnNFeature());
        Assert.Equal("CnnNFeature6", CnnArchitecture.CnnNFeature().Name);
        Assert.Same(CnnArchitecture.Mlp(16), CnnArchitecture.Mlp(16));
        Assert.Equal("Mlp16", CnnArchitecture.Mlp(16).Name);
        Assert.NotSame(CnnArchitecture.Mlp(16), CnnArchitecture.Mlp(17));
        Assert.Same(CnnArchitecture.ResNet9(32), CnnArchitecture.FromName("ResNet9-32"));
        Assert.Equal("ResNet9-64", CnnArchitecture.ResNet9().Name);

        // A saved model names the width; loading resolves it in a process that never asked for it.
        var resolved = CnnArchitecture.FromName("CnnNFeature13");
        Assert.Same(resolved, CnnArchitecture.CnnNFeature(13));
        Assert.Equal(13 * 16 * 50 + 50 + 13 * 13 * 25 + 13 + 13 * 25 + 13 + 510, ParameterCount(resolved, 1, 28, 10));
        Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName("Mlp0"));
        Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName("Mlp08"));

        CnnArchitecture.Custom("Mlp4242", (c, h, w, k) => new Architectures.Mlp(c, h, w, k));
        Assert.Throws<ArgumentException>(() => CnnArchitecture.Mlp(4242));
    }

    [Fact]
    public void EveryBuiltInArchitectureIsListed()
    {
        var names = CnnArchitecture.All.Select(a => a.Name).ToHashSet();
        Assert.Superset(new HashSet<string>
        {
            "LeNet5", "TwoConvThreeFc", "AlexNet", "AlexNetSmall", "Vgg11", "Vgg13", "Vgg16", "Vgg19", "Vgg11Cifar",
                "Vgg13Cifar", "Vgg16Cifar", "Vgg19Cifar",
            "NiN", "GoogLeNet", "ResNet18", "ResNet34", "ResNet50", "ResNet18Cifar", "ResNet34Cifar", "ResNet50Cifar", "DenseNet121", "DenseNetCifar",
        }, names);
    }
}

/// <summary>
/// The zoo tests build networks of hundreds of megabytes; they run alone, after the parallel tests, so that they do not
/// disturb the ones that measure the process's memory.
/// </summary>
[CollectionDefinition(nameof(ArchitectureTests), DisableParallelization = true)]
public sealed class ArchitectureTestsCollection;
