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

    private static long Parameters(CnnArchitecture architecture, int side)
    {
        using var module = architecture.CreateModule(2, side, side, 3);
        return module.parameters().Sum(p => p.numel());
    }
}
