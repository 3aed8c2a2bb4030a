using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// Row-by-row scoring for <c>PredictionEngine</c>: passes the input row's columns through and computes Score and
/// PredictedLabel for it on first request (one forward pass per row, cached while the row stays the same).
/// </summary>
internal sealed class CnnRowMapper : IRowToRowMapper
{
    private readonly CnnTransformer _transformer;
    private readonly DataViewSchema.Column _features;

    public CnnRowMapper(CnnTransformer transformer, DataViewSchema inputSchema, DataViewSchema.Column features)
    {
        _transformer = transformer;
        _features = features;
        InputSchema = inputSchema;
        OutputSchema = transformer.GetOutputSchema(inputSchema);
    }

    public DataViewSchema InputSchema { get; }

    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var indices = dependingColumns.Select(c => c.Index).ToHashSet();
        if (indices.Any(i => i >= InputSchema.Count))
            indices.Add(_features.Index);
        return InputSchema.Where(c => indices.Contains(c.Index));
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        => new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

    private sealed class Row(CnnRowMapper mapper, DataViewRow input, HashSet<int> active) : DataViewRow
    {
        private readonly float[] _probabilities = new float[mapper._transformer.Network.ClassCount];
        private readonly float[] _embedding = new float[mapper._transformer.Network.EmbeddingSize];
        private readonly float[] _pixels = new float[mapper._transformer.Network.Shape.Size];
        private VBuffer<float> _features;
        private long _scoredPosition = -1;

        public override DataViewSchema Schema => mapper.OutputSchema;

        public override long Position => input.Position;

        public override long Batch => input.Batch;

        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int inputCount = mapper.InputSchema.Count;
            if (column.Index < inputCount)
                return input.GetGetter<TValue>(input.Schema[column.Index]);
            Delegate getter = (column.Index - inputCount) switch
            {
                0 => (ValueGetter<VBuffer<float>>)GetScore,
                1 => (ValueGetter<uint>)GetPredictedLabel,
                _ => (ValueGetter<VBuffer<float>>)GetEmbedding,
            };
            return getter as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Column '{column.Name}' is of type {column.Type}, not {typeof(TValue).Name}.");
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        private void EnsureScored()
        {
            // A PredictionEngine reuses one row object and moves its input on; rescore when the position changes.
            if (_scoredPosition == input.Position && input.Position >= 0)
                return;
            input.GetGetter<VBuffer<float>>(mapper._features)(ref _features);
            if (_features.Length != _pixels.Length)
                throw new InvalidOperationException($"Column '{mapper._features.Name}' holds {_features.Length} "
                    + $"values, but the model expects {_pixels.Length} ({mapper._transformer.InputShape}).");
            _features.CopyTo(_pixels);
            mapper._transformer.Network.Score(_pixels, 1, _probabilities, _embedding);
            _scoredPosition = input.Position;
        }

        private void GetScore(ref VBuffer<float> destination)
        {
            EnsureScored();
            var editor = VBufferEditor.Create(ref destination, _probabilities.Length);
            _probabilities.CopyTo(editor.Values);
            destination = editor.Commit();
        }

        private void GetEmbedding(ref VBuffer<float> destination)
        {
            EnsureScored();
            var editor = VBufferEditor.Create(ref destination, _embedding.Length);
            _embedding.CopyTo(editor.Values);
            destination = editor.Commit();
        }

        private void GetPredictedLabel(ref uint destination)
        {
            EnsureScored();
            destination = CnnScoringDataView.PredictedKey(_probabilities);
        }
    }
}
