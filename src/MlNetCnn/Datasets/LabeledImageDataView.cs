using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>Decoded 8-bit images and their zero-based class bytes, as the binary dataset readers hold them.</summary>
/// <param name="Pixels">Holds <paramref name="Count"/> images of C×H×W bytes (planar), one after another, from
/// <paramref name="PixelOffset"/>.</param>
/// <param name="PixelOffset">Where the first image starts in <paramref name="Pixels"/>.</param>
/// <param name="Labels">Holds one class byte per image from <paramref name="LabelOffset"/>, already checked against the class count.</param>
/// <param name="LabelOffset">Where the first label is in <paramref name="Labels"/>.</param>
/// <param name="Count">The number of images.</param>
internal sealed record LabeledImageBytes(byte[] Pixels, int PixelOffset, byte[] Labels, int LabelOffset, int Count);

/// <summary>
/// The lazy <see cref="IDataView"/> of the binary dataset readers: <c>Features</c>, a Vector&lt;Single, C, H, W&gt; of
/// pixels scaled to [0, 1], and <c>Label</c>, a key over the class names (with the KeyValues annotation). The bytes are
/// decoded once, when the first cursor moves; each row's floats are computed only when its Features getter is called.
/// </summary>
internal sealed class LabeledImageDataView : IRowIndexedDataView
{
    private const float Scale = 1f / 255;
    private readonly Lazy<LabeledImageBytes> _data;
    private readonly ImageShape _shape;
    private readonly int _count;
    private readonly int[]? _selection;
    private readonly IReadOnlyList<string> _classNames;

    public LabeledImageDataView(ImageShape shape, IReadOnlyList<string> classNames, int count, Func<LabeledImageBytes> decode)
        : this(shape, classNames, count, new Lazy<LabeledImageBytes>(decode, LazyThreadSafetyMode.ExecutionAndPublication), null)
    {
    }

    private LabeledImageDataView(ImageShape shape, IReadOnlyList<string> classNames, int count, Lazy<LabeledImageBytes> data, int[]? selection)
    {
        _shape = shape;
        _count = selection?.Length ?? count;
        _selection = selection;
        _classNames = classNames;
        _data = data;
        var names = classNames.Select(n => n.AsMemory()).ToArray();
        var keyValues = new DataViewSchema.Annotations.Builder();
        keyValues.AddKeyValues(names.Length, TextDataViewType.Instance,
            (ref VBuffer<ReadOnlyMemory<char>> destination) => new VBuffer<ReadOnlyMemory<char>>(names.Length, names)
            .CopyTo(ref destination));
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(DefaultColumnNames.Features, new VectorDataViewType(NumberDataViewType.Single, shape.Channels, shape.Height, shape.Width));
        schema.AddColumn(DefaultColumnNames.Label, new KeyDataViewType(typeof(uint), names.Length), keyValues.ToAnnotations());
        Schema = schema.ToSchema();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => true;

    public IDataView SelectRows(int[] rows)
    {
        foreach (int row in rows)
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)_count, nameof(rows));
        return new LabeledImageDataView(_shape, _classNames, rows.Length, _data,
            _selection is null ? rows : rows.Select(r => _selection[r]).ToArray());
    }

    public long? GetRowCount() => _count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        int[]? order = null;
        if (rand != null)
        {
            order = Enumerable.Range(0, _count).ToArray();
            rand.Shuffle(order);
        }
        return new Cursor(this, columnsNeeded.Select(c => c.Index).ToHashSet(), order);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(LabeledImageDataView parent, HashSet<int> active, int[]? order)
        : PositionalRowCursor(parent.Schema, active, parent._count)
    {
        private LabeledImageBytes? _data;

        protected override int RowAt(long position)
        {
            _data ??= parent._data.Value;
            int row = order?[position] ?? (int)position;
            return parent._selection?[row] ?? row;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
            => Typed<TValue>(column, column.Index == 0 ? (ValueGetter<VBuffer<float>>)GetFeatures : (ValueGetter<uint>)GetLabel);

        // Optimized from the first call: a one-off pass over 60,000 images should not run in tier-0 code.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void GetFeatures(ref VBuffer<float> destination)
        {
            int size = parent._shape.Size;
            var editor = VBufferEditor.Create(ref destination, size);
            var pixels = _data!.Pixels.AsSpan(_data.PixelOffset + Row * size, size);
            var values = editor.Values;
            for (int i = 0; i < pixels.Length; i++)
                values[i] = pixels[i] * Scale;
            destination = editor.Commit();
        }

        private void GetLabel(ref uint destination) => destination = _data!.Labels[_data.LabelOffset + Row] + 1u;
    }
}
