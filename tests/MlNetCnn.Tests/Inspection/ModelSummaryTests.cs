using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn.Tests;

public sealed class ModelSummaryTests
{
    public sealed class DigitRow
    {
        [VectorType(1, 20, 20)]
        public float[] Features { get; set; } = new float[400];

        public uint Label { get; set; }
    }

    [Fact]
    public void LeNet5RowsAndTotalsAreThoseComputedByHand()
    {
        var summary = CnnArchitecture.LeNet5.Summarize(new ImageShape(1, 28, 28), 10);

        Assert.Equal(61_706, summary.TotalParameters);
        Assert.Equal(61_706, summary.TrainableParameters);
        Assert.Equal(61_706 * 4, summary.ParameterBytes);
        Assert.Equal(0, summary.BufferBytes);
        Assert.Equal([1L, 10], summary.OutputShape);
        // Conv: output elements × in-channels × 5×5; Linear: outputs × inputs (28×28 is padded by 2).
        long conv1 = 6 * 28 * 28 * 1 * 25, conv2 = 16 * 10 * 10 * 6 * 25, fc = 400 * 120 + 120 * 84 + 84 * 10;
        Assert.Equal(conv1 + conv2 + fc, summary.MultiplyAccumulates);
        Assert.Equal(416_520, summary.MultiplyAccumulates);

        Assert.Equal(["features.0", "features.1", "features.2", "features.3", "features.4", "features.5",
            "classifier.0", "classifier.1", "classifier.2", "classifier.3", "classifier.4"], summary.Layers.Select(l => l.Name));
        var first = summary.Layers[0];
        Assert.Equal(("Conv2d", 156L, conv1), (first.Type, first.Parameters, first.MultiplyAccumulates));
        Assert.Equal([1L, 6, 28, 28], first.OutputShape);
        Assert.Equal([1L, 16, 5, 5], summary.Layers[5].OutputShape);
        Assert.Equal([1L, 120], summary.Layers[6].OutputShape);
        Assert.Equal(summary.TotalParameters, summary.Layers.Sum(l => l.Parameters));

        var text = summary.ToString();
        Assert.Contains("LeNet5 on 1×28×28 images", text);
        Assert.Contains("features.3", text);
        Assert.Contains("[1, 16, 10, 10]", text);
        Assert.Contains("Total parameters:      61,706", text);
        Assert.Contains("416,520", text);
    }

    [Fact]
    public void ResidualNetworkSummaryListsEveryCallAndAddsUp()
    {
        var summary = CnnArchitecture.ResNet18Cifar.Summarize(new ImageShape(3, 16, 16), 10);

        Assert.Equal(11_173_962, summary.TotalParameters);
        Assert.Equal(summary.TotalParameters, summary.Layers.Sum(l => l.Parameters));
        // Batch-norm running statistics: mean and var per channel plus one counter per norm (20 of them).
        Assert.True(summary.BufferBytes > 0);
        // BasicBlock calls its one ReLU twice, as torchvision's does: two rows, parameters counted once.
        Assert.Equal(2, summary.Layers.Count(l => l.Name == "layer1.0.relu"));
        Assert.Equal([1L, 512, 2, 2], summary.Layers.Single(l => l.Name == "layer4.1.bn2").OutputShape);
        Assert.Equal([1L, 128, 8, 8], summary.Layers.Single(l => l.Name == "layer2.0.downsample.1").OutputShape);
        Assert.Equal(512 * 10, summary.Layers.Single(l => l.Name == "fc").MultiplyAccumulates);
        Assert.Equal(summary.Layers.Sum(l => l.MultiplyAccumulates), summary.MultiplyAccumulates);
    }

    [Fact]
    public void SummaryLeavesTheModuleAsItFoundIt()
    {
        using var module = CnnArchitecture.Vgg11Cifar.CreateModule(3, 16, 16, 10);
        module.train();
        var before = module.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());

        var summary = CnnModelSummary.Create(module, new ImageShape(3, 16, 16));

        Assert.True(module.training);
        Assert.All(module.state_dict(), p => Assert.True(p.Value.eq(before[p.Key]).all().item<bool>(), p.Key));
        Assert.Equal("Vgg11", summary.ModelName);
        // With hooks gone, a later forward pass records nothing more.
        using var output = module.call(TorchSharp.torch.zeros(2, 3, 16, 16));
        Assert.Equal(summary.Layers.Count, CnnModelSummary.Create(module, new ImageShape(3, 16, 16)).Layers.Count);
    }

    [Fact]
    public void AModuleWithoutChildrenIsItsOwnRow()
    {
        using var flatten = TorchSharp.torch.nn.Flatten();
        var summary = CnnModelSummary.Create(flatten, new ImageShape(3, 4, 5));
        var row = Assert.Single(summary.Layers);
        Assert.Equal(("(root)", "Flatten"), (row.Name, row.Type));
        Assert.Equal([1L, 60], row.OutputShape);
        Assert.Equal(0, summary.TotalParameters);
    }

    [Fact]
    public async Task TrainedTransformerSummarizesItsNetworkWhileOtherThreadsScore()
    {
        var ml = new MLContext(seed: 1);
        var random = new Random(1);
        var rows = Enumerable.Range(0, 32).Select(i => new DigitRow
        {
            Label = (uint)(i % 2 + 1),
            Features = Enumerable.Range(0, 400).Select(_ => (float)random.NextDouble()).ToArray(),
        }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows, SchemaTests.SchemaDefinitionWithKey<DigitRow>(ml, 2));
        using var model = new CnnTrainer(ml,
            new CnnTrainerOptions { Architecture = CnnArchitecture.CnnNFeature(), Epochs = 1, BatchSize = 16 })
            .Fit(data);

        using var stop = new CancellationTokenSource();
        int passes = 0;
        var scorers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            do
            {
                Assert.Equal(32, model.Transform(data).GetColumn<float[]>("Score").Count());
                Interlocked.Increment(ref passes);
            }
            while (!stop.IsCancellationRequested);
        })).ToArray();
        // Summaries (which hook the shared network) interleave with the scoring passes.
        var summaries = new List<CnnModelSummary>();
        while (summaries.Count < 5 || Volatile.Read(ref passes) < 6)
            summaries.Add(model.Summary());
        stop.Cancel();
        await Task.WhenAll(scorers);

        var summary = summaries[^1];
        Assert.Equal("CnnNFeature6", summary.ModelName);
        Assert.Equal(new ImageShape(1, 20, 20), summary.InputShape);
        // conv1 6×1×25+6, conv2 6×6×25+6, fc1 (6×2×2)×50+50, fc2 50×2+2
        Assert.Equal(156 + 906 + 1250 + 102, summary.TotalParameters);
        Assert.Equal(["conv1", "conv2", "fc1", "fc2"], summary.Layers.Select(l => l.Name));
        Assert.Equal([1L, 6, 16, 16], summary.Layers[0].OutputShape);
        Assert.All(summaries, s => Assert.Equal(summary.ToString(), s.ToString()));
    }
}
