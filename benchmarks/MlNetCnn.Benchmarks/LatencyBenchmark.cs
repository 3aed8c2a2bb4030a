using System.Diagnostics;
using Microsoft.ML;
using MlNetCnn.Platform;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// Single-image PredictionEngine latency of a saved and reloaded model, as a deployed scoring program sees it: with the
/// thread count libtorch gives a fresh thread ("before": what a loaded model scored with until scoring got its own
/// setting) against MlNetCnn's scoring default (one thread for one row), on a quiet machine and beside a competing
/// CPU load (busy threads spinning in the same process).
/// </summary>
internal static class LatencyBenchmark
{
    public static IEnumerable<string> Run(BenchmarkOptions options, int libtorchDefaultThreads)
    {
        int before = options.BeforeThreads ?? libtorchDefaultThreads;
        int load = options.Load ?? Environment.ProcessorCount;
        int predictions = options.Predictions ?? 1000, repeats = options.Repeats ?? 2;
        var models = new (CnnArchitecture Architecture, ImageShape Shape, int Predictions)[]
        {
            (CnnArchitecture.LeNet5, new ImageShape(1, 28, 28), predictions),
            (CnnArchitecture.ResNet18, new ImageShape(3, 64, 64), Math.Max(100, predictions / 5)),
        };
        Console.WriteLine();
        Console.WriteLine($"== latency: single-image PredictionEngine.Predict on a reloaded model; before = {before} " +
                          "libtorch threads (libtorch's count for a fresh thread), " +
                          $"after = TorchRuntime.ScoringThreads default; busy = {load} spinning threads in this " +
                          $"process; {repeats} alternating repeats ==");
        var report = new List<string>
        {
            $"Single-image latency, PredictionEngine on a saved and reloaded model, {Environment.ProcessorCount} "
                + $"cores; before = {before} threads (libtorch's default), after = MlNetCnn's scoring default (1 "
                + "thread per image):",
            $"  {"model",-22} {"load",-14} {"before p50",11} {"p99",9} {"after p50",11} {"p99",9} {"p50 ratio",10}",
        };
        string folder = Path.Combine(Path.GetTempPath(), "mlnetcnn-latency-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            foreach (var (architecture, shape, count) in models)
            {
                var (engine, rows, model) = LoadedEngine(architecture, shape, options, folder);
                using (model as IDisposable)
                {
                    foreach (bool busy in new[] { false, true })
                    {
                        if (!busy)
                            QuietMachine.Wait();
                        using var competing = busy ? new BusyThreads(load) : null;
                        var beforeRuns = new List<double>();
                        var afterRuns = new List<double>();
                        Measure(engine, rows, 20, null);
                        for (int r = 0; r < repeats; r++)
                        {
                            Measure(engine, rows, count, before, beforeRuns);
                            Measure(engine, rows, count, null, afterRuns);
                        }
                        TorchRuntime.ScoringThreads = null;
                        string name = $"{architecture.Name} {shape}";
                        string condition = busy ? $"busy ({load} thr.)" : "quiet";
                        double b50 = Percentile(beforeRuns, 0.50), a50 = Percentile(afterRuns, 0.50);
                        string line = $"  {name,-22} {condition,-14} {b50,9:F3}ms "
                            + $"{Percentile(beforeRuns, 0.99),7:F3}ms {a50,9:F3}ms "
                            + $"{Percentile(afterRuns, 0.99),7:F3}ms {b50 / a50,9:F1}x";
                        Console.WriteLine(line);
                        report.Add(line);
                    }
                }
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
        report.Add($"  ({predictions} predictions per repeat for LeNet-5, {Math.Max(100, predictions / 5)} for "
            + "ResNet-18; milliseconds per Predict call, all repeats pooled)");
        report.Add("");
        return report;
    }

    /// <summary>Trains the network for one short epoch, saves it, loads it in a fresh MLContext and returns a PredictionEngine over it.</summary>
    private static (PredictionEngine<ImageRow, ScoreRow> Engine, List<ImageRow> Rows, ITransformer Model) LoadedEngine(
        CnnArchitecture architecture, ImageShape shape, BenchmarkOptions options, string folder)
    {
        var data = SyntheticImages.Create(shape, 64, 10, options.Seed);
        var source = new PipelineSource(data);
        var ml = new MLContext(options.Seed);
        var trainer = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(new CnnTrainer(ml,
                new CnnTrainerOptions { Architecture = architecture, Epochs = 1, BatchSize = 32, Seed = options.Seed,
                    NumberOfThreads = Math.Min(options.Threads, Environment.ProcessorCount) }));
        var trainingData = source.Load(ml);
        string path = Path.Combine(folder, architecture.Name + ".zip");
        using (var trained = trainer.Fit(trainingData))
            ml.Model.Save(trained, trainingData.Schema, path);
        var scoring = new MLContext();
        var loaded = scoring.Model.Load(path, out var schema);
        var engine = scoring.Model.CreatePredictionEngine<ImageRow, ScoreRow>(loaded, inputSchemaDefinition: source.Schema);
        return (engine, source.Rows.Take(32).ToList(), loaded);
    }

    private static void Measure(PredictionEngine<ImageRow, ScoreRow> engine, List<ImageRow> rows, int count,
        int? threads, List<double>? milliseconds = null)
    {
        TorchRuntime.ScoringThreads = threads;
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            engine.Predict(rows[i % rows.Count]);
            milliseconds?.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }

    private static double Percentile(List<double> values, double fraction)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(fraction * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    public sealed class ScoreRow
    {
        public float[] Score { get; set; } = [];
    }

    /// <summary>Threads that keep the cores busy (plain arithmetic) until disposed: a competing CPU load.</summary>
    private sealed class BusyThreads : IDisposable
    {
        private readonly Thread[] _threads;
        private volatile bool _stop;

        public BusyThreads(int count)
        {
            _threads = Enumerable.Range(0, count).Select(_ => new Thread(Spin) { IsBackground = true }).ToArray();
            foreach (var thread in _threads)
                thread.Start();
        }

        private void Spin()
        {
            double x = 1;
            while (!_stop)
            {
                for (int i = 0; i < 10_000; i++)
                    x = x * 1.0000001 + 1e-9;
            }
            GC.KeepAlive(x);
        }

        public void Dispose()
        {
            _stop = true;
            foreach (var thread in _threads)
                thread.Join();
        }
    }
}
