using MlNetCnn.Persistence;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>WeightInitialization.Identity: convolutions start as the identity on their first input-channel-many filters.</summary>
public sealed class IdentityInitializationTests
{
    [Fact]
    public void AWideningConvolutionPassesItsInputThroughItsFirstFilters()
    {
        using var scope = NewDisposeScope();
        var conv = nn.Conv2d(3, 5, 3, padding: 1, bias: false);
        var before = conv.weight!.detach().clone();
        ModuleWeights.Initialize(nn.Sequential(("conv", conv)), WeightInitialization.Identity);
        var input = randn(2, 3, 7, 7);
        var output = conv.call(input);
        Assert.True(output.narrow(1, 0, 3).allclose(input, atol: 1e-6));
        // The filters beyond the input's channels keep the architecture's (random) initialization.
        Assert.True(conv.weight!.narrow(0, 3, 2).eq(before.narrow(0, 3, 2)).all().item<bool>());
    }

    [Fact]
    public void NarrowingAndGroupedConvolutionsKeepTheirInitialization()
    {
        using var scope = NewDisposeScope();
        var narrowing = nn.Conv2d(6, 4, 3, padding: 1);
        var grouped = nn.Conv2d(4, 4, 3, padding: 1, groups: 2);
        var network = nn.Sequential(("narrowing", narrowing), ("grouped", grouped));
        var before = network.parameters().Select(p => p.detach().clone()).ToList();
        ModuleWeights.Initialize(network, WeightInitialization.Identity);
        Assert.All(network.parameters().Zip(before), pair => Assert.True(pair.First.eq(pair.Second).all().item<bool>()));
    }

    [Fact]
    public void EveryWideningConvolutionOfAirbenchNetStartsAsTheIdentity()
    {
        using var module = CnnArchitecture.AirbenchNet(64).CreateModule(3, 16, 16, 2);
        ModuleWeights.Initialize(module, WeightInitialization.Identity);
        int checkedLayers = 0;
        foreach (var conv in module.named_modules().Select(m => m.module).OfType<Conv2d>().Where(c => c.weight!.shape[0] >= c.weight.shape[1]))
        {
            var weight = conv.weight!;
            long inChannels = weight.shape[1], centre = weight.shape[2] / 2;
            for (long i = 0; i < inChannels; i++)
            {
                Assert.Equal(1f, weight[i, i, centre, centre].item<float>());
                Assert.Equal(1f, weight[i].abs().sum().item<float>());
            }
            checkedLayers++;
        }
        Assert.Equal(7, checkedLayers); // the whitening convolution and the six of the groups
    }
}
