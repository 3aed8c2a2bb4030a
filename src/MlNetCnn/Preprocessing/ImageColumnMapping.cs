using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// The shared mechanics of MlNetCnn's per-image transformers (normalization, augmentation marker): one image column
/// (a known-size float vector) in, one column of the same type out, computed row by row while the data is cursored.
/// The output column hides the input when both have the same name, as ML.NET's own transforms do.
/// </summary>
internal sealed class ImageColumnMapping
{
    private readonly Action<ReadOnlySpan<float>, Span<float>> _map;
    private readonly Func<DataViewSchema.Column, DataViewSchema.Annotations> _annotations;

    public ImageColumnMapping(string outputColumnName, string inputColumnName, string role,
        Action<ReadOnlySpan<float>, Span<float>> map, Func<DataViewSchema.Column, DataViewSchema.Annotations> annotations)
    {
        OutputColumnName = outputColumnName;
        InputColumnName = inputColumnName;
        Role = role;
        _map = map;
        _annotations = annotations;
    }

    public string OutputColumnName { get; }

    public string InputColumnName { get; }

    /// <summary>How errors refer to the input column, e.g. "image normalization input".</summary>
    public string Role { get; }

    public (DataViewSchema.Column Input, ImageShape Shape) ResolveInput(DataViewSchema schema)
        => InputColumns.ResolveImage(schema, InputColumnName, null, null, null, Role);

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        var (input, _) = ResolveInput(inputSchema);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumn(OutputColumnName, input.Type, _annotations(input));
        return builder.ToSchema();
    }

    public IDataView Transform(IDataView source) => new MappedView(this, source);

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new RowMapper(this, inputSchema);

    /// <summary>A getter of the output column for the current row of <paramref name="input"/>.</summary>
    private ValueGetter<VBuffer<float>> OutputGetter(DataViewRow input, DataViewSchema.Column inputColumn, int size)
    {
        var getSource = input.GetGetter<VBuffer<float>>(inputColumn);
        var dense = new float[size];
        VBuffer<float> source = default;
        return (ref VBuffer<float> destination) =>
        {
            getSource(ref source);
            if (source.Length != size)
                throw new InvalidOperationException($"Row {input.Position}: column '{inputColumn.Name}' holds "
                    + $"{source.Length} values, expected {size}.");
            source.CopyTo(dense);
            var editor = VBufferEditor.Create(ref destination, size);
            _map(dense, editor.Values);
            destination = editor.Commit();
        };
    }

    /// <summary>The lazy output of <see cref="Transform"/>; the trainer rebuilds it over a reordered source to stream shuffled rows.</summary>
    internal sealed class MappedView(ImageColumnMapping mapping, IDataView source) : IDataView
    {
        private readonly DataViewSchema.Column _input = mapping.ResolveInput(source.Schema).Input;

        public ImageColumnMapping Mapping => mapping;

        public IDataView Source => source;

        public DataViewSchema Schema { get; } = mapping.GetOutputSchema(source.Schema);

        public bool CanShuffle => source.CanShuffle;

        public long? GetRowCount() => source.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            var active = columnsNeeded.Select(c => c.Index).ToHashSet();
            return new Cursor(mapping, this, source.GetRowCursor(InputColumns(active), rand), active);
        }

        // Passes the cursor count on, so a caller asking for one cursor gets no hidden splitting upstream.
        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        {
            var active = columnsNeeded.Select(c => c.Index).ToHashSet();
            return source.GetRowCursorSet(InputColumns(active), n, rand)
                .Select(input => (DataViewRowCursor)new Cursor(mapping, this, input, active)).ToArray();
        }

        private IEnumerable<DataViewSchema.Column> InputColumns(HashSet<int> active)
        {
            int added = source.Schema.Count;
            return source.Schema.Where(c => active.Contains(c.Index) || (active.Contains(added) && c.Index == _input.Index));
        }

        private sealed class Cursor(ImageColumnMapping mapping, MappedView view, DataViewRowCursor input, HashSet<int> active) : DataViewRowCursor
        {
            public override DataViewSchema Schema => view.Schema;

            public override long Position => input.Position;

            public override long Batch => input.Batch;

            public override bool MoveNext() => input.MoveNext();

            public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

            public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
                => column.Index < input.Schema.Count
                    ? input.GetGetter<TValue>(input.Schema[column.Index])
                    : mapping.OutputGetter(input, view._input, ((VectorDataViewType)column.Type).Size) as ValueGetter<TValue>
                      ?? throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Single>, not {typeof(TValue).Name}.");

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                    input.Dispose();
                base.Dispose(disposing);
            }
        }
    }

    private sealed class RowMapper(ImageColumnMapping mapping, DataViewSchema inputSchema) : IRowToRowMapper
    {
        private readonly DataViewSchema.Column _input = mapping.ResolveInput(inputSchema).Input;

        private ImageColumnMapping Mapping => mapping;

        public DataViewSchema InputSchema => inputSchema;

        public DataViewSchema OutputSchema { get; } = mapping.GetOutputSchema(inputSchema);

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        {
            var indices = dependingColumns.Select(c => c.Index).ToHashSet();
            if (indices.Remove(inputSchema.Count))
                indices.Add(_input.Index);
            return inputSchema.Where(c => indices.Contains(c.Index));
        }

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
            => new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

        private sealed class Row(RowMapper mapper, DataViewRow input, HashSet<int> active) : DataViewRow
        {
            public override DataViewSchema Schema => mapper.OutputSchema;

            public override long Position => input.Position;

            public override long Batch => input.Batch;

            public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

            public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

            public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
                => column.Index < input.Schema.Count
                    ? input.GetGetter<TValue>(input.Schema[column.Index])
                    : mapper.Mapping.OutputGetter(input, mapper._input, ((VectorDataViewType)column.Type).Size) as ValueGetter<TValue>
                      ?? throw new InvalidOperationException($"Column '{column.Name}' holds VBuffer<Single>, not {typeof(TValue).Name}.");
        }
    }
}
