using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.ML.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MlNetCnn;

/// <summary>
/// Mini-batch training with a seeded reshuffle every epoch, cross-entropy and Adam. Batches are copied straight from
/// the in-memory images into two preallocated tensors, and every tensor a step creates is freed by its dispose scope,
/// so native memory stays flat however long training runs.
/// </summary>
internal sealed class TrainingLoop(nn.Module<Tensor, Tensor> model, InputStandardization standardization, CnnTrainerOptions options, IChannel channel)
{
    public List<EpochSummary> Run(InMemoryImages train, InMemoryImages? validation, int seed)
    {
        int batchSize = Math.Min(options.BatchSize, train.Count);
        int stepsPerEpoch = (train.Count + batchSize - 1) / batchSize;
        var schedule = new WarmupCosineSchedule(options.LearningRate, (long)stepsPerEpoch * options.Epochs, stepsPerEpoch);
        using var optimizer = optim.Adam(model.parameters(), options.LearningRate);
        using var batch = new BatchTensors(batchSize, train.Shape);
        var random = new Random(seed);
        int[] order = Enumerable.Range(0, train.Count).ToArray();
        var history = new List<EpochSummary>();
        var total = Stopwatch.StartNew();
        long step = 0;
        double learningRate = 0;

        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            model.train();
            random.Shuffle(order);
            double lossSum = 0;
            long correct = 0;
            for (int start = 0; start < train.Count; start += batchSize)
            {
                int count = Math.Min(batchSize, train.Count - start);
                learningRate = schedule.At(step++);
                foreach (var group in optimizer.ParamGroups)
                    group.LearningRate = learningRate;

                using var scope = NewDisposeScope();
                var (images, labels) = batch.Fill(train, order.AsSpan(start, count));
                var logits = model.call(standardization.Apply(images));
                var loss = nn.functional.cross_entropy(logits, labels);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                lossSum += loss.item<float>() * count;
                correct += logits.argmax(1).eq(labels).sum().item<long>();
            }
            double trainSeconds = clock.Elapsed.TotalSeconds;
            var (validationLoss, validationAccuracy) = validation is null ? ((double?)null, (double?)null) : Evaluate(validation, batch);
            var summary = new EpochSummary(epoch, lossSum / train.Count, (double)correct / train.Count, validationLoss, validationAccuracy,
                learningRate, clock.Elapsed, train.Count / trainSeconds);
            history.Add(summary);
            channel.Info(MessageSensitivity.None, $"CnnTrainer {options.Architecture.Name}: {summary}");
            var remaining = TimeSpan.FromTicks(total.Elapsed.Ticks / epoch * (options.Epochs - epoch));
            options.Progress?.Report(new TrainingProgress(epoch, options.Epochs, summary, remaining));
        }
        model.eval();
        return history;
    }

    private (double? Loss, double? Accuracy) Evaluate(InMemoryImages data, BatchTensors batch)
    {
        model.eval();
        using var noGrad = no_grad();
        double lossSum = 0;
        long correct = 0;
        int[] order = Enumerable.Range(0, data.Count).ToArray();
        for (int start = 0; start < data.Count; start += batch.Capacity)
        {
            int count = Math.Min(batch.Capacity, data.Count - start);
            using var scope = NewDisposeScope();
            var (images, labels) = batch.Fill(data, order.AsSpan(start, count));
            var logits = model.call(standardization.Apply(images));
            lossSum += nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.Sum).item<float>();
            correct += logits.argmax(1).eq(labels).sum().item<long>();
        }
        model.train();
        return (lossSum / data.Count, (double)correct / data.Count);
    }
}

/// <summary>Two preallocated tensors (images and labels) that each batch is copied into, without per-batch allocations.</summary>
internal sealed class BatchTensors : IDisposable
{
    private readonly Tensor _images;
    private readonly Tensor _labels;

    public BatchTensors(int capacity, ImageShape shape)
    {
        Capacity = capacity;
        using (NewDisposeScope())
        {
            _images = empty(capacity, shape.Channels, shape.Height, shape.Width).DetachFromDisposeScope();
            _labels = empty(capacity, dtype: int64).DetachFromDisposeScope();
        }
    }

    public int Capacity { get; }

    /// <summary>Copies the images and labels at <paramref name="indices"/>; returns views of the first indices.Length rows.</summary>
    public (Tensor Images, Tensor Labels) Fill(InMemoryImages data, ReadOnlySpan<int> indices)
    {
        int size = data.Shape.Size;
        var pixels = MemoryMarshal.Cast<byte, float>(_images.bytes);
        var labels = MemoryMarshal.Cast<byte, long>(_labels.bytes);
        for (int i = 0; i < indices.Length; i++)
        {
            data.Pixels.AsSpan(indices[i] * size, size).CopyTo(pixels.Slice(i * size, size));
            labels[i] = data.Labels[indices[i]];
        }
        return indices.Length == Capacity ? (_images, _labels) : (_images.narrow(0, 0, indices.Length), _labels.narrow(0, 0, indices.Length));
    }

    public void Dispose()
    {
        _images.Dispose();
        _labels.Dispose();
    }
}
