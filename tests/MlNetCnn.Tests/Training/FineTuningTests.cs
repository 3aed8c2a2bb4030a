using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Persistence;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Tests;

/// <summary>Fine-tuning from pretrained weights: a frozen backbone (batch-norm statistics too), a slower backbone after
/// unfreezing, the weights' own input normalization.</summary>
[Collection(nameof(PretrainedWeightsCollection))]
public sealed class FineTuningTests : IDisposable
{
    // Small, with batch norms and residual connections.
    private static readonly CnnArchitecture Network = CnnArchitecture.ResNet9(4);

    private readonly TempFolder _temp = new();
    private readonly MLContext _ml = new(seed: 1);
    private readonly Dictionary<string, float[]> _pretrained;
    private readonly string _path;

    public FineTuningTests()
    {
        torch.manual_seed(3);
        using var module = Network.CreateModule(1, 16, 16, 3);
        _path = _temp.Combine("pretrained.safetensors");
        SafeTensorsFile.Write(_path, module.state_dict().Select(p => (p.Key, p.Value)));
        _pretrained = Snapshot(module);
    }

    public void Dispose() => _temp.Dispose();

    private static Dictionary<string, float[]> Snapshot(nn.Module module)
        => module.state_dict().Where(p => p.Value.dtype == ScalarType.Float32).ToDictionary(p => p.Key, p => p.Value.data<float>().ToArray());

    private CnnTransformer FineTune(Action<CnnTrainerOptions> configure, bool pixels255 = false)
    {
        var rows = SyntheticTensors.Rows(32, 3, seed: 4);
        if (pixels255)
            foreach (var row in rows)
                row.Features = row.Features.Select(v => v * 255).ToArray();
        var weights = PretrainedWeights.FromFile(_path);
        weights.InputNormalization = null;
        var options = new CnnTrainerOptions { Architecture = Network, Epochs = 1, BatchSize = 32, Seed = 2, InitialWeights = weights };
        configure(options);
        return new CnnTrainer(_ml, options).Fit(SyntheticTensors.Keyed(_ml, rows));
    }

    private static bool IsHead(string key) => key.StartsWith("fc.", StringComparison.Ordinal);

    [Fact]
    public void WhileFrozenOnlyTheHeadChangesNotEvenBatchNormStatistics()
    {
        using var model = FineTune(o => o.FreezeBackboneEpochs = 1);
        var after = Snapshot(model.Network.Module);
        foreach (var (key, values) in _pretrained)
        {
            if (IsHead(key))
                Assert.NotEqual(values, after[key]);
            else
                Assert.Equal(values, after[key]); // weights and running_mean/running_var alike
        }
        Assert.All(model.Network.Module.parameters(), p => Assert.True(p.requires_grad)); // released for further fine-tuning
    }

    [Fact]
    public void UnfrozenTheBackboneMovesAtItsFractionOfTheHeadsLearningRate()
    {
        // One full batch per epoch and plain SGD: the second epoch is one step from the same point, scaled by the factor.
        Dictionary<string, float[]> Run(double factor)
        {
            using var model = FineTune(o =>
            {
                o.Epochs = 2;
                o.Optimizer = CnnOptimizer.Sgd;
                o.Momentum = 0;
                o.LearningRate = 0.01;
                o.LearningRateSchedule = LearningRateSchedule.Constant();
                o.BackboneLearningRateFactor = factor;
            });
            return Snapshot(model.Network.Module);
        }
        var full = Run(1.0);
        var tenth = Run(0.1);
        const string key = "layer1.0.weight";
        double fullStep = _pretrained[key].Zip(full[key]).Sum(p => Math.Abs(p.Second - p.First));
        double tenthStep = _pretrained[key].Zip(tenth[key]).Sum(p => Math.Abs(p.Second - p.First));
        Assert.True(fullStep > 0);
        Assert.InRange(tenthStep / fullStep, 0.099, 0.101);
    }

    [Fact]
    public void TheFrozenFractionOfTheBackboneNeverTrainsWhileTheRestDoes()
    {
        using var model = FineTune(o =>
        {
            o.Epochs = 2; // the second epoch trains the backbone
            o.LearningRateSchedule = LearningRateSchedule.Constant();
            o.FrozenBackboneFraction = 0.5;
        });
        var after = Snapshot(model.Network.Module);
        // Layers with weights (conv, batch norm) in state_dict order, which is the order ResNet-9 applies them.
        var layers = _pretrained.Keys.Where(k => !IsHead(k)).Select(k => k[..k.LastIndexOf('.')]).Distinct().ToList();
        int frozen = (int)Math.Round(layers.Count * 0.5, MidpointRounding.AwayFromZero);
        Assert.True(frozen >= 2 && frozen < layers.Count);
        foreach (var (key, values) in _pretrained.Where(p => !IsHead(p.Key)))
        {
            int layer = layers.IndexOf(key[..key.LastIndexOf('.')]);
            // Weights and batch-norm statistics alike.
            Assert.True(values.SequenceEqual(after[key]) == layer < frozen, $"{key} (layer {layer} of {layers.Count}; {frozen} frozen)");
        }
        Assert.All(model.Network.Module.parameters(), p => Assert.True(p.requires_grad)); // released for further fine-tuning
    }

    [Fact]
    public void TheWeightsInputNormalizationIsAppliedOnThePixelScaleOfTheData()
    {
        var normalization = PretrainedInputNormalization.PerChannel([0.5f], [0.25f]);
        using (var unitScale = FineTune(o => o.InitialWeights!.InputNormalization = normalization))
        {
            Assert.Equal([0.5f], unitScale.InputMean);
            Assert.Equal([0.25f], unitScale.InputStandardDeviation);
        }
        using var byteScale = FineTune(o => o.InitialWeights!.InputNormalization = normalization, pixels255: true);
        Assert.Equal([127.5f], byteScale.InputMean);
        Assert.Equal([63.75f], byteScale.InputStandardDeviation);
    }

    [Fact]
    public void APerPixelMeanImageIsSavedAndLoadedWithTheModel()
    {
        var meanImage = Enumerable.Range(0, 256).Select(i => i / 512f).ToArray();
        var normalization = PretrainedInputNormalization.MeanImage(meanImage, 16, 16, [0.5f], "test mean image");
        var rows = SyntheticTensors.Rows(8, 3, seed: 6);
        var data = SyntheticTensors.Keyed(_ml, rows);
        using var model = FineTune(o => o.InitialWeights!.InputNormalization = normalization);
        Assert.Equal(meanImage, model.InputMean);

        string path = _temp.Combine("model.zip");
        _ml.Model.Save(model, data.Schema, path);
        var loaded = _ml.Model.Load(path, out _);
        try
        {
            var cnn = Assert.IsType<CnnTransformer>(loaded);
            Assert.Equal(meanImage, cnn.InputMean);
            Assert.Equal(model.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s),
                cnn.Transform(data).GetColumn<float[]>("Score").SelectMany(s => s));
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void ImpossibleFineTuningOptionsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(_ml, new CnnTrainerOptions { FreezeBackboneEpochs = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(_ml, new CnnTrainerOptions { BackboneLearningRateFactor = 2 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CnnTrainer(_ml, new CnnTrainerOptions { FrozenBackboneFraction = 1.5 }));
        var withoutWeights = Assert.Throws<ArgumentException>(() => new CnnTrainer(_ml, new CnnTrainerOptions { FrozenBackboneFraction = 0.5 }));
        Assert.Contains("InitialWeights", withoutWeights.Message);
    }
}
