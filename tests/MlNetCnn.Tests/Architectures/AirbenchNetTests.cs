using MlNetCnn.Architectures;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>airbench94's network: its layout, its shift-only batch norms and its size limits.</summary>
public sealed class AirbenchNetTests
{
    [Fact]
    public void HasAirbench94sParametersWithOnlyTheBatchNormShiftsTrainable()
    {
        var summary = CnnArchitecture.AirbenchNet(64).Summarize(new ImageShape(3, 32, 32), 10);
        // whiten 3·24·2·2 + 24, groups 24→64, 64→256, 256→256 (two 3×3 convolutions and two norms each), fc 256·10.
        Assert.Equal(1_972_792, summary.TotalParameters);

        using var module = CnnArchitecture.AirbenchNet(64).CreateModule(3, 32, 32, 10);
        var norms = module.named_modules().Select(m => m.module).OfType<BatchNorm2d>().ToList();
        Assert.Equal(6, norms.Count);
        Assert.All(norms, norm =>
        {
            Assert.False(norm.weight!.requires_grad);
            Assert.True(norm.bias!.requires_grad);
        });
        Assert.Equal(24, ((Conv2d)module.named_modules().First(m => m.name == "whiten").module).weight!.shape[0]);
    }

    [Fact]
    public void ScoresImagesFromNineByNineAndNamesItsMinimumBelow()
    {
        var architecture = CnnArchitecture.FromName("AirbenchNet-8");
        Assert.Same(CnnArchitecture.AirbenchNet(8), architecture);
        using (var module = architecture.CreateModule(3, 9, 9, 4))
        using (var logits = module.call(randn(2, 3, 9, 9)))
            Assert.Equal([2L, 4L], logits.shape);
        var error = Assert.Throws<ArgumentException>(() => architecture.CreateModule(3, 8, 8, 4));
        Assert.Contains("at least 9×9", error.Message);
    }

    [Fact]
    public void BatchNormStatisticsMoveByFourTenthsOfEachBatch()
    {
        using var module = CnnArchitecture.AirbenchNet(4).CreateModule(3, 16, 16, 2);
        nn.Module Layer(string name) => module.named_modules().First(m => m.name == name).module;
        var norm = (BatchNorm2d)Layer("layer1.norm1");
        using var scope = NewDisposeScope();
        var input = randn(8, 3, 16, 16) * 3 + 1;
        Tensor normInput;
        using (no_grad())
        {
            var whitened = ((nn.Module<Tensor, Tensor>)Layer("act")).call(((nn.Module<Tensor, Tensor>)Layer("whiten")).call(input));
            normInput = ((nn.Module<Tensor, Tensor>)Layer("layer1.pool")).call(((nn.Module<Tensor, Tensor>)Layer("layer1.conv1")).call(whitened));
        }
        module.train();
        module.call(input);
        // From 0 the running mean moves to 0.4 × the batch mean (airbench's momentum 0.6 on the old value).
        var expected = normInput.mean([0, 2, 3]) * 0.4;
        Assert.True(expected.abs().max().item<float>() > 1e-3);
        Assert.True(norm.running_mean!.allclose(expected, rtol: 1e-4, atol: 1e-6));
    }
}
