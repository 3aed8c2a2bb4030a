using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// Images decoded while training: each pass reads the rows again through the ML.NET transforms upstream of the
/// trainer, on background threads (<see cref="ImageChunkReader"/>), so no more than a few batches are ever held.
/// When the data is readable by position (<see cref="IRowIndexedDataView"/> under row-to-row transforms), every epoch
/// is a full reshuffle, the same one the in-memory cache makes; otherwise rows are read in order and pass through a
/// seeded shuffle buffer of <see cref="ShuffleBufferImages"/> images.
/// </summary>
internal sealed class StreamingImages : ITrainingBatchSource
{
    /// <summary>Memory the shuffle buffer of data readable only in order may take.</summary>
    internal const long ShuffleBufferBytes = 256L << 20;

    private readonly IDataView _data;
    private readonly int _columnIndex;
    private readonly ImageShape _shape;
    private readonly int[] _positions;
    private readonly int[] _labels;
    private readonly Func<int[], IDataView>? _selectRows;
    private readonly int _threads;
    private readonly string _role;
    private float[]? _shuffleBuffer;

    /// <param name="data">The data the trainer was given.</param>
    /// <param name="image">Its image column.</param>
    /// <param name="shape">The image shape.</param>
    /// <param name="rows">The rows to read.</param>
    /// <param name="selectRows">Builds <paramref name="data"/> over chosen rows in a chosen order; null when it can only be read in order.</param>
    /// <param name="threads">Decoding threads.</param>
    /// <param name="role">"training" or "validation", for messages.</param>
    public StreamingImages(IDataView data, DataViewSchema.Column image, ImageShape shape, LabeledRows rows,
        Func<int[], IDataView>? selectRows, int threads, string role)
    {
        _data = data;
        _columnIndex = image.Index;
        _shape = shape;
        _positions = rows.Positions;
        _labels = rows.Labels;
        _selectRows = selectRows;
        _threads = Math.Max(1, threads);
        _role = role;
    }

    public int Count => _positions.Length;

    /// <summary>True when every epoch is a full reshuffle; false when a shuffle buffer is used.</summary>
    public bool ShufflesFully => _selectRows != null;

    public int ShuffleBufferImages => (int)Math.Clamp(ShuffleBufferBytes / ((long)_shape.Size * sizeof(float)), 1, Count);

    public string Description => $"streamed: decoded on {_threads} background thread{(_threads == 1 ? "" : "s")} every epoch, " +
        (ShufflesFully ? "fully reshuffled (the data is readable by position)"
            : $"shuffled through a buffer of {ShuffleBufferImages} images (the data can only be read in order)");

    public IBatchStream Read(Random? shuffle, BatchTensors batch, CancellationToken cancellation)
    {
        int size = batch.Capacity;
        int[] sequence = Enumerable.Range(0, Count).ToArray();
        bool reorder = shuffle != null && _selectRows != null;
        if (reorder)
            shuffle!.Shuffle(sequence);
        int chunks = (Count + size - 1) / size;
        int[] chunkRows = Enumerable.Range(0, chunks).Select(c => Math.Min(size, Count - c * size)).ToArray();
        int threads = Math.Min(_threads, chunks);
        var assignments = new List<ImageChunkReader.Assignment>();
        for (int w = 0; w < threads; w++)
        {
            int[] mine = Enumerable.Range(0, chunks).Where(c => c % threads == w).ToArray();
            var rows = new List<int>();
            foreach (int c in mine)
            {
                foreach (int row in sequence.AsSpan(c * size, chunkRows[c]))
                    rows.Add(_positions[row]);
            }
            int[] source = rows.ToArray();
            assignments.Add(reorder
                ? new(_selectRows!(source), Enumerable.Range(0, source.Length).ToArray(), source, mine)
                : new(_data, source, source, mine));
        }
        var reader = new ImageChunkReader(assignments, _columnIndex, _shape, chunkRows, Math.Max(4, 2 * threads), _role, cancellation);
        if (shuffle is null || reorder)
            return new InOrderStream(reader, sequence, _labels, batch);
        _shuffleBuffer ??= new float[(long)ShuffleBufferImages * _shape.Size];
        return new ShuffleBufferStream(reader, _shuffleBuffer, ShuffleBufferImages, _labels, shuffle, batch);
    }

    public void Dispose() => _shuffleBuffer = null;

    private static string Report(ImageChunkReader reader)
        => $"the batch queue was empty at {reader.EmptyTakes} of {reader.LaterTakes} batches after the first; "
        + $"{reader.Waited.TotalSeconds:F1} s spent waiting for decoded images";

    /// <summary>Chunks are batches: each one is copied into the batch tensors as it comes.</summary>
    private sealed class InOrderStream(ImageChunkReader reader, int[] sequence, int[] labels, BatchTensors batch) : IBatchStream
    {
        private int _done;

        public string? QueueReport => Report(reader);

        public int Next()
        {
            float[]? chunk = reader.Take(out int rows);
            if (chunk is null)
                return 0;
            int size = batch.Shape.Size;
            chunk.AsSpan(0, rows * size).CopyTo(batch.Pixels);
            var target = batch.Labels;
            var sourceRows = batch.Rows;
            for (int i = 0; i < rows; i++)
            {
                sourceRows[i] = sequence[_done + i];
                target[i] = labels[sourceRows[i]];
            }
            _done += rows;
            return rows;
        }

        public void Dispose() => reader.Dispose();
    }

    /// <summary>
    /// Rows read in order pass through a buffer: each batch row is a seeded random pick from the buffer, whose slot is
    /// refilled by the next row read. The picks depend only on the draws, so the same seed gives the same batches.
    /// </summary>
    private sealed class ShuffleBufferStream(ImageChunkReader reader, float[] buffer, int capacity, int[] labels,
        Random random, BatchTensors batch) : IBatchStream
    {
        private readonly int[] _bufferLabels = new int[capacity];
        private readonly int[] _bufferRows = new int[capacity];
        private readonly int _size = batch.Shape.Size;
        private float[]? _chunk;
        private int _chunkRows;
        private int _chunkOffset;
        private int _pulled;
        private int _filled;
        private bool _exhausted;

        public string? QueueReport => Report(reader);

        public int Next()
        {
            var pixels = batch.Pixels;
            var target = batch.Labels;
            var rows = batch.Rows;
            int i = 0;
            for (; i < batch.Capacity; i++)
            {
                while (_filled < capacity && !_exhausted)
                {
                    if (Pull(_filled))
                        _filled++;
                }
                if (_filled == 0)
                    break;
                int pick = random.Next(_filled);
                Slot(pick).CopyTo(pixels.Slice(i * _size, _size));
                target[i] = _bufferLabels[pick];
                rows[i] = _bufferRows[pick];
                if (_exhausted || !Pull(pick))
                {
                    _filled--;
                    Slot(_filled).CopyTo(Slot(pick));
                    _bufferLabels[pick] = _bufferLabels[_filled];
                    _bufferRows[pick] = _bufferRows[_filled];
                }
            }
            return i;
        }

        private Span<float> Slot(int index) => buffer.AsSpan(index * _size, _size);

        /// <summary>Reads the next row into buffer slot <paramref name="slot"/>; false (and exhausted) after the last.</summary>
        private bool Pull(int slot)
        {
            if (_chunk is null || _chunkOffset == _chunkRows)
            {
                _chunk = reader.Take(out _chunkRows);
                _chunkOffset = 0;
                if (_chunk is null)
                {
                    _exhausted = true;
                    return false;
                }
            }
            _chunk.AsSpan(_chunkOffset++ * _size, _size).CopyTo(Slot(slot));
            _bufferRows[slot] = _pulled;
            _bufferLabels[slot] = labels[_pulled++];
            return true;
        }

        public void Dispose() => reader.Dispose();
    }
}
