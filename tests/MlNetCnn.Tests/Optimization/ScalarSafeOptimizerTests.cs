using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>
/// The library's Adam, AdamW and SGD (which keep their Scalars alive through each libtorch call) take exactly
/// TorchSharp's steps and save TorchSharp's state format.
/// </summary>
public sealed class ScalarSafeOptimizerTests
{
    public static TheoryData<CnnOptimizer, bool, double> Settings => new()
    {
        { CnnOptimizer.Adam, false, 0 }, { CnnOptimizer.Adam, false, 0.01 }, { CnnOptimizer.AdamW, false, 0.05 },
        { CnnOptimizer.Sgd, false, 0 }, { CnnOptimizer.Sgd, true, 1e-3 },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void StepsMatchTorchSharpsOptimizers(CnnOptimizer optimizer, bool nesterov, double weightDecay)
    {
        using var scope = NewDisposeScope();
        var options = new CnnTrainerOptions { Optimizer = optimizer, Nesterov = nesterov, WeightDecay = weightDecay,
            LearningRate = 0.03, Momentum = 0.8 };
        random.manual_seed(5);
        var ours = nn.Linear(6, 3);
        var theirs = nn.Linear(6, 3);
        theirs.load_state_dict(ours.state_dict());
        using var safe = OptimizerFactory.Create([(ours.parameters(), weightDecay)], options);
        using var reference = optimizer switch
        {
            CnnOptimizer.Adam => (OptimizerHelper)optim.Adam(theirs.parameters(), 0.03, weight_decay: weightDecay),
            CnnOptimizer.AdamW => optim.AdamW(theirs.parameters(), 0.03, weight_decay: weightDecay),
            _ => optim.SGD(theirs.parameters(), 0.03, momentum: 0.8, weight_decay: weightDecay, nesterov: nesterov),
        };
        Assert.Equal(reference.GetType().Name, safe.GetType().Name);
        for (int step = 0; step < 4; step++)
        {
            var input = randn(8, 6);
            foreach (var (module, optimizerStep) in new[] { (ours, safe), (theirs, reference) })
            {
                optimizerStep.zero_grad();
                module.call(input).pow(2).sum().backward();
                optimizerStep.step();
            }
        }
        foreach (var (ourParameter, theirParameter) in ours.parameters().Zip(theirs.parameters()))
            Assert.True(ourParameter.allclose(theirParameter, rtol: 1e-6, atol: 1e-7),
                $"{optimizer}: {ourParameter.ToString(TorchSharp.TensorStringStyle.Numpy)} vs "
                + $"{theirParameter.ToString(TorchSharp.TensorStringStyle.Numpy)}");
    }
}
