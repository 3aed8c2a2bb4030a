namespace MlNetCnn;

/// <summary>Images of a <see cref="CompactImageStore"/> (all of it, or a split of it) as a batch source.</summary>
internal sealed class CachedImages : ITrainingBatchSource
{
    private readonly CompactImageStore _store;
    private readonly int[] _images;
    private readonly int[] _labels;

    /// <param name="store">The decoded images.</param>
    /// <param name="images">Which of them this source holds (indices into the store).</param>
    /// <param name="labels">Their zero-based classes.</param>
    public CachedImages(CompactImageStore store, int[] images, int[] labels)
    {
        _store = store;
        _images = images;
        _labels = labels;
    }

    public int Count => _images.Length;

    public string Description => $"cached in memory, {(_store.IsBytes ? "1 byte per value (8-bit pixels)" : "4-byte floats")}";

    public IBatchStream Read(Random? shuffle, BatchTensors batch, CancellationToken cancellation)
    {
        // The order depends only on the draws, so a resumed run shuffles exactly as an uninterrupted one.
        int[] order = Enumerable.Range(0, _images.Length).ToArray();
        shuffle?.Shuffle(order);
        return new Stream(this, order, batch);
    }

    public void Dispose()
    {
    }

    private sealed class Stream(CachedImages source, int[] order, BatchTensors batch) : IBatchStream
    {
        private int _next;

        public string? QueueReport => null;

        public int Next()
        {
            int count = Math.Min(batch.Capacity, order.Length - _next), size = batch.Shape.Size;
            var pixels = batch.Pixels;
            var labels = batch.Labels;
            var rows = batch.Rows;
            for (int i = 0; i < count; i++)
            {
                int row = order[_next + i];
                source._store.CopyTo(source._images[row], pixels.Slice(i * size, size));
                labels[i] = source._labels[row];
                rows[i] = row;
            }
            _next += count;
            return count;
        }

        public void Dispose()
        {
        }
    }
}
