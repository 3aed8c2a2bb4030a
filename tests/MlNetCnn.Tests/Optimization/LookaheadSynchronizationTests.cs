using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>Lookahead's synchronization: the slow weights (parameters and batch-norm statistics) move to the blend computed by hand.</summary>
public sealed class LookaheadSynchronizationTests
{
    private static Dictionary<string, float[]> Snapshot(nn.Module module)
        => module.state_dict().Where(p => p.Value.is_floating_point()).ToDictionary(p => p.Key, p => p.Value.data<float>().ToArray());

    private static Dictionary<string, float[]> Blend(Dictionary<string, float[]> slow, Dictionary<string, float[]> fast, double keep)
        => slow.ToDictionary(p => p.Key, p => p.Value.Select((s, i) => (float)(s + (1 - keep) * (fast[p.Key][i] - s))).ToArray());

    private static void AssertClose(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual)
    {
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, values) in expected)
            Assert.All(values.Zip(actual[name]), pair => Assert.Equal(pair.First, pair.Second, 1e-6f));
    }

    [Fact]
    public void EverySyncPeriodAndAtEpochEndTheNetworkContinuesFromTheBlendOfSlowAndFastWeights()
    {
        torch.manual_seed(5);
        using var module = nn.Sequential(("fc", nn.Linear(4, 3)), ("norm", nn.BatchNorm1d(3)));
        module.train();
        using var optimizer = optim.SGD(module.parameters(), 0.5);
        var options = new LookaheadOptions { SyncPeriod = 2, Decay = 0.9, DecayPower = 1 };
        var slow = Snapshot(module);
        using var lookahead = new LookaheadAveraging(module, options, completedSteps: 0, totalSteps: 4);

        Dictionary<string, float[]> Step()
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            module.call(randn(8, 4)).pow(2).mean().backward();
            optimizer.step();
            return Snapshot(module);
        }

        var fast = Step();
        lookahead.AfterStep(1);
        Assert.Equal(fast, Snapshot(module)); // not a synchronization step

        fast = Step();
        Assert.NotEqual(slow["norm.running_mean"], fast["norm.running_mean"]);
        lookahead.AfterStep(2);
        slow = Blend(slow, fast, keep: 0.9 * 2 / 4);
        AssertClose(slow, Snapshot(module));

        // The epoch ends after step 3, between two synchronizations: it synchronizes too, with that step's share.
        fast = Step();
        lookahead.EndEpoch(3);
        slow = Blend(slow, fast, keep: 0.9 * 3 / 4);
        AssertClose(slow, Snapshot(module));

        // An epoch ending right after a synchronization leaves the network as it is.
        fast = Step();
        lookahead.AfterStep(4);
        slow = Blend(slow, fast, keep: 0.9);
        AssertClose(slow, Snapshot(module));
        var synchronized = Snapshot(module);
        lookahead.EndEpoch(4);
        Assert.Equal(synchronized, Snapshot(module));
    }
}
