using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MlNetCnn.Persistence;

namespace MlNetCnn;

/// <summary>
/// Chooses how the training and validation images are held (<see cref="CnnTrainerOptions.DataCaching"/>), reads the
/// labels, splits off validation rows and builds the batch sources. The choice and its reason go to the training log.
/// </summary>
internal sealed class TrainingData : IDisposable
{
    private TrainingData(ITrainingBatchSource train, ITrainingBatchSource? validation)
    {
        Train = train;
        Validation = validation;
    }

    public ITrainingBatchSource Train { get; }

    public ITrainingBatchSource? Validation { get; }

    /// <param name="environment">Rebuilds ML.NET transforms over reordered rows.</param>
    /// <param name="channel">The training log.</param>
    /// <param name="options">The trainer's options.</param>
    /// <param name="seed">Seeds the validation split.</param>
    /// <param name="training">The training data, its image and label columns.</param>
    /// <param name="shape">The image shape.</param>
    /// <param name="validation">Separate validation data and its columns, if any.</param>
    public static TrainingData Create(IHostEnvironment environment, IChannel channel, CnnTrainerOptions options, int seed,
        (IDataView Data, DataViewSchema.Column Image, DataViewSchema.Column Label) training, ImageShape shape,
        (IDataView Data, DataViewSchema.Column Image, DataViewSchema.Column Label)? validation)
    {
        long budget = options.MemoryBudgetBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;
        var rows = LabeledRows.Read(training.Data, training.Label, "training");
        if (rows.SkippedRows > 0)
            channel.Warning(MessageSensitivity.None, $"CnnTrainer: skipped {rows.SkippedRows} training rows whose label is missing.");
        var (trainRows, heldOut) = validation is null && options.ValidationFraction > 0
            ? rows.SplitStratified(options.ValidationFraction, seed)
            : (Enumerable.Range(0, rows.Count).ToArray(), null);

        ITrainingBatchSource train;
        ITrainingBatchSource? validationSource = null;
        var store = Cache(training.Image, shape, rows, "training", options, ref budget, out string why, training.Data);
        if (store != null)
        {
            train = new CachedImages(store, trainRows, trainRows.Select(i => rows.Labels[i]).ToArray());
            if (heldOut != null)
                validationSource = new CachedImages(store, heldOut, heldOut.Select(i => rows.Labels[i]).ToArray());
        }
        else
        {
            var selectRows = MlNetInternals.RowSelector(environment, training.Data);
            train = new StreamingImages(training.Data, training.Image, shape, rows.Subset(trainRows), selectRows,
                StreamingThreads(options), "training");
            if (heldOut != null)
                validationSource = new StreamingImages(training.Data, training.Image, shape, rows.Subset(heldOut), null,
                    StreamingThreads(options), "validation");
        }
        channel.Info(MessageSensitivity.None, $"CnnTrainer: training images {train.Description}{why}.");

        if (validation is { } given)
        {
            var validationRows = LabeledRows.Read(given.Data, given.Label, "validation");
            var validationStore = Cache(given.Image, shape, validationRows, "validation", options, ref budget, out string validationWhy, given.Data);
            validationSource = validationStore != null
                ? new CachedImages(validationStore, Enumerable.Range(0, validationRows.Count).ToArray(), validationRows.Labels)
                : new StreamingImages(given.Data, given.Image, shape, validationRows, null, StreamingThreads(options), "validation");
            channel.Info(MessageSensitivity.None, $"CnnTrainer: validation images {validationSource.Description}{validationWhy}.");
        }
        return new TrainingData(train, validationSource);
    }

    private static int StreamingThreads(CnnTrainerOptions options) => options.DataLoadingThreads ?? Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Decodes the rows into a compact store when the options and the budget allow; null to stream them.</summary>
    private static CompactImageStore? Cache(DataViewSchema.Column image, ImageShape shape, LabeledRows rows, string role,
        CnnTrainerOptions options, ref long budget, out string why, IDataView data)
    {
        long leastBytes = (long)rows.Count * shape.Size;
        switch (options.DataCaching)
        {
            case DataCaching.Streaming:
                why = " (DataCaching.Streaming)";
                return null;
            case DataCaching.Auto when leastBytes > budget:
                why = $" (DataCaching.Auto: {rows.Count} images of {shape} take at least {Megabytes(leastBytes)}, more "
                + $"than the {Megabytes(budget)} left of the memory budget)";
                return null;
        }
        bool forced = options.DataCaching == DataCaching.InMemory;
        var store = new CompactImageStore(shape, forced ? long.MaxValue : budget, !options.CacheAsFloats);
        // All cores decode while nothing else runs; the batch tensors only carry the rows, in order, into the store.
        var reader = new StreamingImages(data, image, shape, rows, null, options.DataLoadingThreads ?? Environment.ProcessorCount, role);
        using (var batch = new BatchTensors(Math.Min(256, rows.Count), shape))
        using (var stream = reader.Read(null, batch, options.CancellationToken))
        {
            for (int count; (count = stream.Next()) > 0;)
            {
                for (int i = 0; i < count; i++)
                {
                    if (!store.TryAdd(batch.Pixels.Slice(i * shape.Size, shape.Size)))
                    {
                        why = $" (DataCaching.Auto: {rows.Count} images of {shape} as 4-byte floats (a channel holds "
                            + $"more than 256 distinct values) take {Megabytes(leastBytes * sizeof(float))}, more than "
                            + $"the {Megabytes(budget)} left of the memory budget)";
                        return null;
                    }
                }
            }
        }
        budget -= store.Bytes;
        why = forced ? $" ({Megabytes(store.Bytes)}, DataCaching.InMemory)"
            : $" ({Megabytes(store.Bytes)} of the {Megabytes(budget + store.Bytes)} memory budget)";
        return store;
    }

    private static string Megabytes(long bytes) => $"{bytes / 1048576.0:F0} MB";

    public void Dispose()
    {
        Train.Dispose();
        Validation?.Dispose();
    }
}
