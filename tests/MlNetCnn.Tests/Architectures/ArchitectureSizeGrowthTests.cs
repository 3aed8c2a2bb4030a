namespace MlNetCnn.Tests;

/// <summary>
/// Each built-in architecture declares whether its parameter count grows with the image size; a loaded model's
/// recorded size is checked only for those that do, so a wrong declaration would let a forged size through.
/// </summary>
public sealed class ArchitectureSizeGrowthTests
{
    // The ImageNet VGGs, AlexNet, ResNet-34/50 and DenseNet-121 share their family's code with the ones listed and
    // take seconds to build, so they are left out.
    public static TheoryData<string> Architectures =>
    [
        "LeNet5", "TwoConvThreeFc", "CnnNFeature6", "Mlp8", "AlexNetSmall", "Vgg11Cifar", "NiN", "GoogLeNet",
        "ResNet18", "ResNet18Cifar", "ResNet9-8", "DenseNetCifar", "TwoBranch",
    ];

    [Theory]
    [MemberData(nameof(Architectures))]
    public void TheDeclarationMatchesTheNetworks(string name)
    {
        var architecture = CnnArchitecture.FromName(name);
        int side = architecture.MinimumImageSize;

        long small = Parameters(architecture, side), large = Parameters(architecture, 2 * side + 8);

        Assert.Equal(architecture.SizeGrowsWithImage, large > small);
    }

    // The parameterized built-ins bound their size from the name alone (a loaded model's weights must hold at least
    // that much); the bound must never exceed the real network, and should not be far below it either.
    [Theory]
    [InlineData("AirbenchNet-8", 3, 9)]
    [InlineData("AirbenchNet-64", 3, 32)]
    [InlineData("ResNet9-8", 1, 8)]
    [InlineData("ResNet9-32", 3, 32)]
    [InlineData("Mlp8", 1, 28)]
    [InlineData("Mlp300", 3, 32)]
    [InlineData("CnnNFeature6", 1, 28)]
    [InlineData("CnnNFeature40", 3, 16)]
    [InlineData("ResNet-1-1-1-1", 3, 32)]
    [InlineData("ResNet-2-2-2-3", 3, 32)]
    public void TheLeastSizeFromTheNameBoundsTheRealNetworkFromBelow(string name, int channels, int side)
    {
        var architecture = CnnArchitecture.FromName(name);
        using var module = architecture.CreateModule(channels, side, side, 10);
        double actual = module.state_dict().Values.Sum(t => (double)t.numel());

        double least = architecture.LeastStateValues(channels, side, side, 10);

        Assert.InRange(least, 0.5 * actual, actual);
    }

    private static long Parameters(CnnArchitecture architecture, int side)
    {
        using var module = architecture.CreateModule(2, side, side, 3);
        return module.parameters().Sum(p => p.numel());
    }
}
