namespace MlNetCnn.Tests;

public sealed class ArchitectureNameLookupTests
{
    [Theory]
    [InlineData("ResNet18Cifar", "ResNet18Cifar")]
    [InlineData("resnet18cifar", "ResNet18Cifar")]
    [InlineData("LENET5", "LeNet5")]
    [InlineData("resnet9-32", "ResNet9-32")]
    [InlineData("cnnnfeature6", "CnnNFeature6")]
    [InlineData("MLP8", "Mlp8")]
    [InlineData("mlp17", "Mlp17")]
    [InlineData("resnet-2-2-2-3", "ResNet-2-2-2-3")]
    public void NamesMatchInAnyCaseAndParameterizedNamesResolve(string typed, string expected)
        => Assert.Equal(expected, CnnArchitecture.FromName(typed).Name);

    [Fact]
    public void AnUnknownNameListsTheKnownOnesAndTheParameterizedForms()
    {
        var error = Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName("ResNet19"));
        Assert.Contains("ResNet18Cifar", error.Message);
        Assert.Contains("ResNet9-32", error.Message);
        Assert.Contains("CnnNFeature6", error.Message);
        Assert.Contains("Mlp8", error.Message);
        Assert.Contains("ResNet-2-2-2-3", error.Message);
        Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName("Mlp0"));
        Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName("ResNet9-032"));
    }

    [Fact]
    public void TheExactNameWinsAndNamesDifferingOnlyInCaseAreAmbiguous()
    {
        string name = "CaseTest" + Guid.NewGuid().ToString("N")[..8];
        var upper = CnnArchitecture.Custom(name.ToUpperInvariant(), (c, h, w, k) => TorchSharp.torch.nn.Linear(c * h * w, k));
        var lower = CnnArchitecture.Custom(name.ToLowerInvariant(), (c, h, w, k) => TorchSharp.torch.nn.Linear(c * h * w, k));

        Assert.Same(upper, CnnArchitecture.FromName(name.ToUpperInvariant()));
        Assert.Same(lower, CnnArchitecture.FromName(name.ToLowerInvariant()));
        var ambiguous = Assert.Throws<KeyNotFoundException>(() => CnnArchitecture.FromName(name));
        Assert.Contains("exact spelling", ambiguous.Message);
    }
}
