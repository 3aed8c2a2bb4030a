namespace MlNetCnn;

/// <summary>
/// Where training and validation batches come from: a compact in-memory cache (<see cref="CachedImages"/>) or images
/// decoded while training (<see cref="StreamingImages"/>). Both give the same images; the loop does not know which.
/// </summary>
internal interface ITrainingBatchSource : IDisposable
{
    /// <summary>The number of images.</summary>
    int Count { get; }

    /// <summary>What the source is, for the training log.</summary>
    string Description { get; }

    /// <summary>
    /// Starts one pass over the images: in an order drawn from <paramref name="shuffle"/> (the same draws give the
    /// same batches), or in order when it is null. Each batch is written into <paramref name="batch"/>.
    /// </summary>
    IBatchStream Read(Random? shuffle, BatchTensors batch, CancellationToken cancellation);
}

/// <summary>One pass over a <see cref="ITrainingBatchSource"/>; disposing it stops any work still under way.</summary>
internal interface IBatchStream : IDisposable
{
    /// <summary>Writes the next batch into the batch tensors and returns its number of images; 0 after the last.</summary>
    int Next();

    /// <summary>For decoded data: how often the next batch was not ready when training asked for it; null for cached data.</summary>
    string? QueueReport { get; }
}
