using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Benchmarks;

/// <summary>One timed training run.</summary>
/// <param name="Images">Images trained on: epochs × data count.</param>
/// <param name="TrainSeconds">Time in the training steps only (the trainer's epoch clocks; the plain loop's epoch loops).</param>
/// <param name="TotalSeconds">Whole call: pipeline.Fit (data reading, standardization, module creation, training) or plain setup + loop.</param>
/// <param name="FinalLoss">Mean training loss of the last epoch.</param>
/// <param name="Stats">Page faults and CPU time over the whole call.</param>
/// <param name="EpochImagesPerSecond">Each epoch's training rate.</param>
internal sealed record RunResult(long Images, double TrainSeconds, double TotalSeconds, double FinalLoss,
    ProcessStats Stats, IReadOnlyList<double> EpochImagesPerSecond)
{
    public double TrainImagesPerSecond => Images / TrainSeconds;

    public double TotalImagesPerSecond => Images / TotalSeconds;

    /// <summary>Other processes used enough CPU meanwhile to slow this run down.</summary>
    public bool Disturbed => Stats.OtherCores(TotalSeconds) > QuietMachine.DisturbedAbove;
}

/// <summary>A row of the in-memory IDataView: planar CHW floats and a string label, as a user's POCO would be.</summary>
public sealed class ImageRow
{
    [VectorType(1, 28, 28)]
    public float[] Features { get; set; } = [];

    public string Label { get; set; } = "";
}

/// <summary>The in-memory IDataView source for the pipeline: rows built once, read by every Fit.</summary>
internal sealed class PipelineSource
{
    private readonly List<ImageRow> _rows;
    private readonly SchemaDefinition _schema;

    public PipelineSource(SyntheticImages data)
    {
        Data = data;
        int size = data.Size;
        _rows = new List<ImageRow>(data.Count);
        for (int i = 0; i < data.Count; i++)
            _rows.Add(new ImageRow { Features = data.Pixels.AsSpan(i * size, size).ToArray(), Label = $"class{data.Labels[i]}" });
        _schema = SchemaDefinition.Create(typeof(ImageRow));
        // [VectorType(1, 28, 28)] is the attribute's shape; other image shapes override it here.
        _schema[nameof(ImageRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single,
            data.Shape.Channels, data.Shape.Height, data.Shape.Width);
    }

    public SyntheticImages Data { get; }

    /// <summary>The rows, as a user's objects.</summary>
    public IReadOnlyList<ImageRow> Rows => _rows;

    /// <summary>The schema that gives <see cref="ImageRow.Features"/> this data's image shape.</summary>
    public SchemaDefinition Schema => _schema;

    public IDataView Load(MLContext ml) => ml.Data.LoadFromEnumerable(_rows, _schema);
}

internal static class Measurements
{
    public const double LearningRate = 3e-3;

    /// <summary>(a) MapValueToKey → CnnTrainer on the in-memory IDataView, timed around pipeline.Fit.</summary>
    public static RunResult Pipeline(PipelineSource source, CnnArchitecture architecture, int epochs, int batchSize, int threads, int seed,
        ImageAugmentationOptions? augmentation = null)
    {
        var ml = new MLContext(seed);
        var options = new CnnTrainerOptions
        {
            Architecture = architecture,
            Epochs = epochs,
            BatchSize = batchSize,
            LearningRate = LearningRate,
            Seed = seed,
            NumberOfThreads = threads,
        };
        var keyed = ml.Transforms.Conversion.MapValueToKey("Label");
        var pipeline = augmentation is null
            ? keyed.Append(new CnnTrainer(ml, options))
            : keyed.Append(ml.Transforms.AugmentImages(augmentation)).Append(new CnnTrainer(ml, options));
        var view = source.Load(ml);
        Settle();
        QuietMachine.Wait();

        var before = ProcessStats.Read();
        var clock = Stopwatch.StartNew();
        var model = pipeline.Fit(view);
        clock.Stop();
        var stats = ProcessStats.Read() - before;

        using var cnn = model.LastTransformer;
        var history = cnn.TrainingHistory;
        // Each epoch's ImagesPerSecond is its image count over its training time; summing the times gives the run's rate.
        double trainSeconds = history.Sum(e => source.Data.Count / e.ImagesPerSecond);
        return new RunResult((long)epochs * source.Data.Count, trainSeconds, clock.Elapsed.TotalSeconds, history[^1].TrainLoss, stats,
            history.Select(e => e.ImagesPerSecond).ToList());
    }

    /// <summary>
    /// (b) A hand-written TorchSharp loop on the same network: the whole data set in one float tensor and one int64
    /// tensor, a seeded shuffle per epoch, index_select per batch, cross-entropy, Adam at a fixed learning rate, and a
    /// dispose scope per step.
    /// </summary>
    public static RunResult PlainLoop(SyntheticImages data, Func<nn.Module<Tensor, Tensor>> createModule, int epochs,
        int batchSize, int threads, int seed)
    {
        Settle();
        QuietMachine.Wait();
        var before = ProcessStats.Read();
        var total = Stopwatch.StartNew();
        torch.set_num_threads(threads);
        torch.random.manual_seed(seed);
        using var model = createModule();
        using var optimizer = optim.Adam(model.parameters(), LearningRate);
        using var images = torch.tensor(data.Pixels, [data.Count, data.Shape.Channels, data.Shape.Height, data.Shape.Width]);
        using var labels = torch.tensor(data.Labels.Select(l => (long)l).ToArray());
        var random = new Random(seed);
        long[] order = Enumerable.Range(0, data.Count).Select(i => (long)i).ToArray();
        double trainSeconds = 0, lossSum = 0;
        var epochRates = new List<double>();

        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            model.train();
            random.Shuffle(order);
            lossSum = 0;
            for (int start = 0; start < data.Count; start += batchSize)
            {
                int count = Math.Min(batchSize, data.Count - start);
                using var scope = NewDisposeScope();
                var index = torch.tensor(order.AsSpan(start, count).ToArray());
                var x = images.index_select(0, index);
                var y = labels.index_select(0, index);
                var loss = nn.functional.cross_entropy(model.call(x), y);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>() * count;
            }
            trainSeconds += clock.Elapsed.TotalSeconds;
            epochRates.Add(data.Count / clock.Elapsed.TotalSeconds);
        }
        total.Stop();
        var stats = ProcessStats.Read() - before;
        return new RunResult((long)epochs * data.Count, trainSeconds, total.Elapsed.TotalSeconds, lossSum / data.Count, stats, epochRates);
    }

    /// <summary>Frees what earlier runs left so that no measurement pays for another's garbage.</summary>
    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>Repeats a step of <paramref name="batch"/> images for at least two runs and at least
    /// <paramref name="seconds"/>; images per second.</summary>
    public static double ImagesPerSecond(Action step, int batch, double seconds)
    {
        var clock = Stopwatch.StartNew();
        int steps = 0;
        while (steps < 2 || clock.Elapsed.TotalSeconds < seconds)
        {
            step();
            steps++;
        }
        return (double)steps * batch / clock.Elapsed.TotalSeconds;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
