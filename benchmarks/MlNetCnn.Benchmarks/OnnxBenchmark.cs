using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// Inference with ONNX Runtime on the model exported by ML.NET's converter against the library's own libtorch scoring
/// (<c>ScoringNetwork.Score</c>: standardization, forward pass, softmax, copy out), same weights, same process, same
/// number of threads: batch-256 images/s and single-image latency percentiles. Both start from float pixels in
/// managed memory and end with the probabilities there (ONNX Runtime also computes PredictedLabel).
/// </summary>
internal static class OnnxBenchmark
{
    private const int Classes = 10;

    public static IEnumerable<string> Run(BenchmarkOptions options)
    {
        (string Name, CnnArchitecture Architecture, ImageShape Shape)[] cases =
        [
            ("LeNet-5", CnnArchitecture.LeNet5, new ImageShape(1, 28, 28)),
            ("ResNet9(32)", CnnArchitecture.ResNet9(32), new ImageShape(3, 32, 32)),
            ("ResNet-18", CnnArchitecture.ResNet18, new ImageShape(3, 224, 224)),
        ];
        int batch = options.BatchSize, threads = options.Threads;
        double seconds = options.Seconds ?? 6;
        Console.WriteLine();
        Console.WriteLine($"== onnx: ONNX Runtime vs libtorch, batch {batch} and single images, {threads} threads "
            + $"each, at least {seconds:F0} s per figure ==");
        var lines = new List<string>
        {
            $"Inference, {Classes} classes, {threads} threads (libtorch: torch.set_num_threads; ONNX Runtime: intra-op "
                + "threads), random weights and images:",
            $"  {"network",-12} {"input",-10} {"engine",-13} {"batch " + batch + " img/s",16} {"1 image p50 ms",15} {"p99 ms",8}  other cores",
        };
        var ml = new MLContext(seed: options.Seed);
        foreach (var (name, architecture, shape) in cases)
        {
            torch.random.manual_seed(options.Seed);
            var module = architecture.CreateModule(shape.Channels, shape.Height, shape.Width, Classes);
            using var transformer = new CnnTransformer(architecture,
                new ScoringNetwork(architecture, module, InputStandardization.Identity(shape.Channels), shape, Classes),
                "Features", null, [], batch);
            byte[] onnx = Export(ml, transformer, shape);
            using var sessionOptions = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
            using var session = new InferenceSession(onnx, sessionOptions);
            var random = new Random(options.Seed);
            float[] pixels = Enumerable.Range(0, batch * shape.Size).Select(_ => (float)random.NextDouble()).ToArray();
            float[] probabilities = new float[batch * Classes];

            void Torch(int count) => transformer.Network.Score(pixels, count, probabilities);
            void Ort(int count)
            {
                using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                    pixels.AsMemory(0, count * shape.Size), [count, shape.Channels, shape.Height, shape.Width]);
                using var runOptions = new RunOptions();
                using var outputs = session.Run(runOptions, ["Features"], [input], ["Score.output", "PredictedLabel.output"]);
                outputs[0].GetTensorDataAsSpan<float>().CopyTo(probabilities);
            }

            foreach (var (engine, score) in new (string, Action<int>)[] { ("libtorch", Torch), ("ONNX Runtime", Ort) })
            {
                score(batch); // first-call costs: kernel selection, allocations
                score(1);
                QuietMachine.Wait();
                var before = ProcessStats.Read();
                var clock = Stopwatch.StartNew();
                double throughput = Measurements.ImagesPerSecond(() => score(batch), batch, seconds);
                var latencies = Latencies(() => score(1), seconds / 2);
                double other = (ProcessStats.Read() - before).OtherCores(clock.Elapsed.TotalSeconds);
                string line = string.Create(CultureInfo.InvariantCulture,
                    $"  {name,-12} {shape.ToString(),-10} {engine,-13} {throughput,16:F1} "
                    + $"{Percentile(latencies, 0.50),15:F3} {Percentile(latencies, 0.99),8:F3}  {other:F2}  "
                    + $"({latencies.Count} single-image runs)");
                Console.WriteLine(line);
                lines.Add(line);
            }
        }
        lines.Add("  (other cores: CPU other processes used meanwhile; above 0.15 a figure is disturbed)");
        lines.Add("");
        return lines;
    }

    private static byte[] Export(MLContext ml, CnnTransformer transformer, ImageShape shape)
    {
        var definition = SchemaDefinition.Create(typeof(ImageRow));
        definition[nameof(ImageRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single,
            shape.Channels, shape.Height, shape.Width);
        var data = ml.Data.LoadFromEnumerable([new ImageRow { Features = new float[shape.Size] }], definition);
        using var stream = new MemoryStream();
        ml.Model.ConvertToOnnx(transformer, data, stream);
        return stream.ToArray();
    }

    // Single-image calls for at least the given time and at least 100 calls; milliseconds each.
    private static List<double> Latencies(Action step, double seconds)
    {
        var latencies = new List<double>();
        var total = Stopwatch.StartNew();
        while (latencies.Count < 100 || total.Elapsed.TotalSeconds < seconds)
        {
            long start = Stopwatch.GetTimestamp();
            step();
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return latencies;
    }

    private static double Percentile(List<double> values, double fraction)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(fraction * sorted.Count) - 1)];
    }

    private sealed class ImageRow
    {
        public float[] Features { get; set; } = [];
    }
}
