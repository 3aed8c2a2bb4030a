namespace MlNetCnn.Tests;

/// <summary>CnnArchitecture.ResNet(a, b, c, d): ResNets of any block counts (ML.NET's pretrained ResNet-18 is [2, 2, 2, 3]).</summary>
public sealed class ResNetBlocksTests
{
    [Fact]
    public void BlockCountsNameTheArchitectureAndFindItAgain()
    {
        var architecture = CnnArchitecture.ResNet(2, 2, 2, 3);
        Assert.Equal("ResNet-2-2-2-3", architecture.Name);
        Assert.Same(architecture, CnnArchitecture.ResNet(2, 2, 2, 3));
        Assert.Same(architecture, CnnArchitecture.FromName("ResNet-2-2-2-3"));
        Assert.Equal("ResNet-1-1-1-1", CnnArchitecture.FromName("ResNet-1-1-1-1").Name); // a saved model's name registers it
        Assert.Throws<ArgumentException>(() => CnnArchitecture.ResNet(2, 2, 2));
        Assert.Throws<ArgumentException>(() => CnnArchitecture.ResNet(2, 0, 2, 2));
        Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName("ResNet-2-2-2-03"));
    }

    [Fact]
    public void TheExtraBlockIsTorchvisionsBasicBlockInLayer4()
    {
        using var module = CnnArchitecture.ResNet(2, 2, 2, 3).CreateModule(3, 32, 32, 10);
        var keys = module.state_dict().Keys.ToList();
        Assert.Contains("layer4.2.conv2.weight", keys);
        Assert.DoesNotContain("layer4.3.conv1.weight", keys);
        Assert.DoesNotContain("layer3.2.conv1.weight", keys);
        // torchvision's ResNet(BasicBlock, [2, 2, 2, 3], num_classes=10) has 15,902,282 parameters.
        Assert.Equal(15_902_282, module.parameters().Sum(p => p.numel()));
    }
}
