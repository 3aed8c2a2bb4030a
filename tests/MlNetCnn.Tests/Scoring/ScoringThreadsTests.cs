using Microsoft.ML;
using Microsoft.ML.Data;
using MlNetCnn.Platform;
using TorchSharp;

namespace MlNetCnn.Tests;

/// <summary>
/// Scoring sets libtorch's thread count on the scoring thread: one thread for a single row by default, or
/// TorchRuntime.ScoringThreads, for trained and loaded models alike. Runs alone: the setting is process-wide.
/// </summary>
[Collection(nameof(ScoringThreadsTests))]
public sealed class ScoringThreadsTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose()
    {
        TorchRuntime.ScoringThreads = null;
        _temp.Dispose();
    }

    private ITransformer TrainSaveAndLoad(MLContext ml, List<SyntheticTensors.Row> rows)
    {
        using var model = new CnnTrainer(ml, new CnnTrainerOptions { Epochs = 1, BatchSize = 16, Seed = 9, NumberOfThreads = 1 })
            .Fit(SyntheticTensors.Keyed(ml, rows));
        string path = _temp.Combine("model.zip");
        ml.Model.Save(model, null, path);
        return new MLContext().Model.Load(path, out _);
    }

    /// <summary>Runs <paramref name="score"/> on a new thread whose libtorch count starts at all cores; returns the count after.</summary>
    private static int ThreadsAfter(Action score)
    {
        int after = 0;
        var thread = new Thread(() =>
        {
            torch.set_num_threads(Environment.ProcessorCount);
            score();
            after = torch.get_num_threads();
        });
        thread.Start();
        thread.Join();
        return after;
    }

    [Fact]
    public void ALoadedModelPredictsOneRowOnOneThreadByDefault()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(32, 2, 1);
        var loaded = TrainSaveAndLoad(ml, rows);
        using (loaded as IDisposable)
        {
            var engine = ml.Model.CreatePredictionEngine<SyntheticTensors.Row, Scored>(loaded, inputSchemaDefinition: null);
            Assert.Equal(1, ThreadsAfter(() => engine.Predict(rows[0])));
        }
    }

    [Fact]
    public void TheSettingAppliesToLoadedModelsOnEveryScoringPath()
    {
        var ml = new MLContext(seed: 1);
        var rows = SyntheticTensors.Rows(32, 2, 1);
        var loaded = TrainSaveAndLoad(ml, rows);
        using (loaded as IDisposable)
        {
            var data = SyntheticTensors.Keyed(ml, rows);
            // By default a batch uses one thread per image, up to the cores.
            Assert.Equal(Environment.ProcessorCount, ThreadsAfter(() => loaded.Transform(data).GetColumn<float[]>("Score").ToArray()));
            TorchRuntime.ScoringThreads = 1;
            Assert.Equal(1, ThreadsAfter(() => loaded.Transform(data).GetColumn<float[]>("Score").ToArray()));
            var engine = ml.Model.CreatePredictionEngine<SyntheticTensors.Row, Scored>(loaded, inputSchemaDefinition: null);
            TorchRuntime.ScoringThreads = Environment.ProcessorCount;
            Assert.Equal(Environment.ProcessorCount, ThreadsAfter(() => engine.Predict(rows[0])));
        }
    }

    [Fact]
    public void TheSettingIsBounded()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TorchRuntime.ScoringThreads = 0);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => TorchRuntime.ScoringThreads = 10_000);
        Assert.Contains("processor cores", error.Message);
        Assert.Null(TorchRuntime.ScoringThreads);
    }

    private sealed class Scored
    {
        public float[] Score { get; set; } = [];
    }
}

[CollectionDefinition(nameof(ScoringThreadsTests), DisableParallelization = true)]
public sealed class ScoringThreadsTestsCollection;
