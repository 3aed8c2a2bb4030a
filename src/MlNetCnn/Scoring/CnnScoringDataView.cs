using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// The lazy result of <see cref="CnnTransformer.Transform"/>: the input's columns plus Score and PredictedLabel,
/// computed one batch of rows per forward pass while the data is cursored.
/// </summary>
internal sealed class CnnScoringDataView : IDataView
{
    private readonly CnnTransformer _transformer;
    private readonly IDataView _source;
    private readonly DataViewSchema.Column _features;

    public CnnScoringDataView(CnnTransformer transformer, IDataView source, DataViewSchema.Column features)
    {
        _transformer = transformer;
        _source = source;
        _features = features;
        Schema = transformer.GetOutputSchema(source.Schema);
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => _source.CanShuffle;

    public long? GetRowCount() => _source.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        int inputCount = _source.Schema.Count;
        var active = columnsNeeded.Select(c => c.Index).ToHashSet();
        bool scoring = active.Any(i => i >= inputCount);
        var inputColumns = _source.Schema.Where(c => active.Contains(c.Index) || scoring && c.Index == _features.Index).ToList();
        var input = _source.GetRowCursor(inputColumns, rand);
        return new Cursor(this, input, active, scoring);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly CnnScoringDataView _parent;
        private readonly DataViewRowCursor _input;
        private readonly HashSet<int> _active;
        private readonly Dictionary<int, BufferedColumn> _buffered = new();
        private readonly ValueGetter<VBuffer<float>>? _getFeatures;
        private readonly ValueGetter<DataViewRowId> _getInputId;
        private readonly DataViewRowId[] _ids;
        private readonly float[] _pixels;
        private readonly float[] _probabilities;
        private readonly float[] _embeddings;
        private readonly int _imageSize;
        private readonly int _classCount;
        private readonly int _embeddingSize;
        private VBuffer<float> _features;
        private int _count;
        private int _slot = -1;
        private long _position = -1;

        public Cursor(CnnScoringDataView parent, DataViewRowCursor input, HashSet<int> active, bool scoring)
        {
            _parent = parent;
            _input = input;
            _active = active;
            var network = parent._transformer.Network;
            _imageSize = network.Shape.Size;
            _classCount = network.ClassCount;
            _embeddingSize = network.EmbeddingSize;
            int capacity = BatchCapacity(parent._transformer.ScoringBatchSize,
                (long)_imageSize + _classCount + _embeddingSize, parent._source.GetRowCount());
            foreach (var column in parent._source.Schema.Where(c => active.Contains(c.Index)))
                _buffered[column.Index] = BufferedColumn.Create(input, column, capacity);
            _getFeatures = scoring ? input.GetGetter<VBuffer<float>>(parent._features) : null;
            _getInputId = input.GetIdGetter();
            _ids = new DataViewRowId[capacity];
            _pixels = scoring ? new float[capacity * _imageSize] : [];
            _probabilities = scoring ? new float[capacity * _classCount] : [];
            bool embedding = _embeddingSize > 0 && active.Contains(parent._source.Schema.Count + 2);
            _embeddings = embedding ? new float[capacity * _embeddingSize] : [];
        }

        public override DataViewSchema Schema => _parent.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override bool MoveNext()
        {
            if (++_slot >= _count)
            {
                if (!ReadBatch())
                    return false;
                _slot = 0;
            }
            _position++;
            return true;
        }

        private bool ReadBatch()
        {
            _count = 0;
            while (_count < _ids.Length && _input.MoveNext())
            {
                _getInputId(ref _ids[_count]);
                foreach (var column in _buffered.Values)
                    column.Capture(_count);
                if (_getFeatures != null)
                {
                    _getFeatures(ref _features);
                    if (_features.Length != _imageSize)
                        throw new InvalidOperationException($"Row {_input.Position}: column '{_parent._features.Name}' "
                            + $"holds {_features.Length} values, but the model expects {_imageSize} "
                            + $"({_parent._transformer.InputShape}).");
                    _features.CopyTo(_pixels.AsSpan(_count * _imageSize, _imageSize));
                }
                _count++;
            }
            if (_count > 0 && _getFeatures != null)
                _parent._transformer.Network.Score(_pixels, _count, _probabilities, _embeddings);
            return _count > 0;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column))
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
            int inputCount = _parent._source.Schema.Count;
            Delegate getter = (column.Index - inputCount) switch
            {
                < 0 => _buffered[column.Index].CreateGetter(() => _slot),
                0 => (ValueGetter<VBuffer<float>>)GetScore,
                1 => (ValueGetter<uint>)GetPredictedLabel,
                _ => (ValueGetter<VBuffer<float>>)GetEmbedding,
            };
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' is of type {column.Type}, not {typeof(TValue).Name}.");
        }

        private void GetScore(ref VBuffer<float> destination)
        {
            var editor = VBufferEditor.Create(ref destination, _classCount);
            _probabilities.AsSpan(_slot * _classCount, _classCount).CopyTo(editor.Values);
            destination = editor.Commit();
        }

        private void GetPredictedLabel(ref uint destination)
            => destination = PredictedKey(_probabilities.AsSpan(_slot * _classCount, _classCount));

        private void GetEmbedding(ref VBuffer<float> destination)
        {
            var editor = VBufferEditor.Create(ref destination, _embeddingSize);
            _embeddings.AsSpan(_slot * _embeddingSize, _embeddingSize).CopyTo(editor.Values);
            destination = editor.Commit();
        }

        public override ValueGetter<DataViewRowId> GetIdGetter()
            => (ref DataViewRowId destination) => destination = _ids[_slot];

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _input.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Most values a cursor buffers per batch (256 MB of floats): large images get fewer rows per forward pass.</summary>
    internal const long MaxBufferedValues = 64L << 20;

    /// <summary>Rows per batch: the scoring batch size, fewer when the rows are large or when the data has fewer rows.</summary>
    internal static int BatchCapacity(int scoringBatchSize, long valuesPerRow, long? rowCount)
    {
        long capacity = Math.Min(scoringBatchSize, Math.Max(1, MaxBufferedValues / Math.Max(1, valuesPerRow)));
        if (rowCount is > 0 and { } rows)
            capacity = Math.Min(capacity, rows);
        return (int)Math.Max(1, capacity);
    }

    /// <summary>
    /// The predicted label's key: 1 + the index of the largest probability (the first one on ties), or 0 (missing)
    /// when the scores are not numbers, as for an image with NaN or infinite pixels: such a row gets no class.
    /// </summary>
    internal static uint PredictedKey(ReadOnlySpan<float> probabilities)
    {
        int best = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            if (float.IsNaN(probabilities[i]))
                return 0;
            if (probabilities[i] > probabilities[best])
                best = i;
        }
        return (uint)best + 1;
    }
}
