using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// The <see cref="IDataView"/> of an <see cref="ImageFolderListing"/>: text columns <c>ImagePath</c> and <c>Label</c>,
/// one row per file, readable in any order (so the trainer can shuffle a listing without decoding it).
/// </summary>
internal sealed class ImageFolderDataView : IRowIndexedDataView
{
    private readonly IReadOnlyList<ImageFolderRow> _rows;
    private readonly int[]? _order;

    public ImageFolderDataView(IReadOnlyList<ImageFolderRow> rows, int[]? order = null)
    {
        _rows = rows;
        _order = order;
        var schema = new DataViewSchema.Builder();
        schema.AddColumn(nameof(ImageFolderRow.ImagePath), TextDataViewType.Instance);
        schema.AddColumn(nameof(ImageFolderRow.Label), TextDataViewType.Instance);
        Schema = schema.ToSchema();
    }

    public DataViewSchema Schema { get; }

    public bool CanShuffle => false;

    public long? GetRowCount() => Count;

    private int Count => _order?.Length ?? _rows.Count;

    public IDataView SelectRows(int[] rows)
    {
        foreach (int row in rows)
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)row, (uint)Count, nameof(rows));
        return new ImageFolderDataView(_rows, _order is null ? rows : rows.Select(r => _order[r]).ToArray());
    }

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        => new Cursor(this, columnsNeeded.Select(c => c.Index).ToHashSet());

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(ImageFolderDataView parent, HashSet<int> active)
        : PositionalRowCursor(parent.Schema, active, parent.Count)
    {
        protected override int RowAt(long position) => parent._order?[position] ?? (int)position;

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            ValueGetter<ReadOnlyMemory<char>> getter = column.Index == 0
                ? (ref ReadOnlyMemory<char> value) => value = parent._rows[Row].ImagePath.AsMemory()
                : (ref ReadOnlyMemory<char> value) => value = parent._rows[Row].Label.AsMemory();
            return Typed<TValue>(column, getter);
        }
    }
}
