using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn.Benchmarks;

/// <summary>
/// Where the trainer's time goes: the plain loop, then the same loop with the trainer's extras added one at a time
/// (copying each batch into preallocated tensors through tensor.bytes, per-batch standardization, the per-step learning
/// rate, the accuracy count), with a stopwatch around every phase of a step.
/// </summary>
internal static class Profiler
{
    [Flags]
    public enum Extras
    {
        None = 0,
        CopyIntoPreallocated = 1,
        Standardize = 2,
        LearningRateSchedule = 4,
        AccuracyCount = 8,
        All = CopyIntoPreallocated | Standardize | LearningRateSchedule | AccuracyCount,
    }

    public enum Phase { Batch, Forward, Loss, ZeroGrad, Backward, Step, Metrics }

    public sealed record Result(Extras Extras, long Images, double Seconds, double[] PhaseSeconds, double OtherCores)
    {
        public double ImagesPerSecond => Images / Seconds;
    }

    public static Result Run(SyntheticImages data, Func<nn.Module<Tensor, Tensor>> createModule, Extras extras,
        int epochs, int batchSize, int threads, int seed)
    {
        GC.Collect();
        QuietMachine.Wait();
        var before = ProcessStats.Read();
        var total = Stopwatch.StartNew();
        torch.set_num_threads(threads);
        torch.random.manual_seed(seed);
        using var model = createModule();
        using var optimizer = optim.Adam(model.parameters(), Measurements.LearningRate);
        using var allImages = torch.tensor(data.Pixels, [data.Count, data.Shape.Channels, data.Shape.Height, data.Shape.Width]);
        using var allLabels = torch.tensor(data.Labels.Select(l => (long)l).ToArray());
        using var batchImages = torch.empty(batchSize, data.Shape.Channels, data.Shape.Height, data.Shape.Width);
        using var batchLabels = torch.empty(batchSize, dtype: int64);
        using var mean = torch.tensor(new float[data.Shape.Channels]).fill_(0.5f).reshape(1, data.Shape.Channels, 1, 1);
        using var std = torch.tensor(new float[data.Shape.Channels]).fill_(0.25f).reshape(1, data.Shape.Channels, 1, 1);
        var random = new Random(seed);
        int[] order = Enumerable.Range(0, data.Count).ToArray();
        var phases = new double[Enum.GetValues<Phase>().Length];
        long step = 0, steps = (long)epochs * ((data.Count + batchSize - 1) / batchSize);
        double seconds = 0, lossSum = 0;
        long correct = 0;
        int size = data.Size;
        var clock = new Stopwatch();
        void Lap(Phase phase)
        {
            phases[(int)phase] += clock.Elapsed.TotalSeconds;
            clock.Restart();
        }

        for (int epoch = 0; epoch < epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            model.train();
            random.Shuffle(order);
            for (int start = 0; start < data.Count; start += batchSize)
            {
                int count = Math.Min(batchSize, data.Count - start);
                clock.Restart();
                if (extras.HasFlag(Extras.LearningRateSchedule))
                {
                    double rate = Measurements.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * step++ / steps));
                    foreach (var group in optimizer.ParamGroups)
                        group.LearningRate = rate;
                }
                using var scope = NewDisposeScope();
                Tensor x, y;
                if (extras.HasFlag(Extras.CopyIntoPreallocated))
                {
                    var pixels = MemoryMarshal.Cast<byte, float>(batchImages.bytes);
                    var labels = MemoryMarshal.Cast<byte, long>(batchLabels.bytes);
                    for (int i = 0; i < count; i++)
                    {
                        data.Pixels.AsSpan(order[start + i] * size, size).CopyTo(pixels.Slice(i * size, size));
                        labels[i] = data.Labels[order[start + i]];
                    }
                    (x, y) = count == batchSize ? (batchImages, batchLabels) : (batchImages.narrow(0, 0, count), batchLabels.narrow(0, 0, count));
                }
                else
                {
                    var index = torch.tensor(order.AsSpan(start, count).ToArray().Select(i => (long)i).ToArray());
                    x = allImages.index_select(0, index);
                    y = allLabels.index_select(0, index);
                }
                if (extras.HasFlag(Extras.Standardize))
                    x = (x - mean).div_(std);
                Lap(Phase.Batch);
                var logits = model.call(x);
                Lap(Phase.Forward);
                var loss = nn.functional.cross_entropy(logits, y);
                Lap(Phase.Loss);
                optimizer.zero_grad();
                Lap(Phase.ZeroGrad);
                loss.backward();
                Lap(Phase.Backward);
                optimizer.step();
                Lap(Phase.Step);
                lossSum += loss.item<float>() * count;
                if (extras.HasFlag(Extras.AccuracyCount))
                    correct += logits.argmax(1).eq(y).sum().item<long>();
                Lap(Phase.Metrics);
            }
            seconds += epochClock.Elapsed.TotalSeconds;
        }
        var stats = ProcessStats.Read() - before;
        return new Result(extras, (long)epochs * data.Count, seconds, phases, stats.OtherCores(total.Elapsed.TotalSeconds));
    }

    public static string Format(string name, Result r, long steps)
    {
        var perStep = string.Join(" ", Enum.GetValues<Phase>().Select(p => $"{p} {1e3 * r.PhaseSeconds[(int)p] / steps,6:F2}"));
        return $"{name,-34} {r.ImagesPerSecond,7:F0} img/s  ms/step: {perStep}  (other processes {r.OtherCores:F2} cores)";
    }
}
