using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// A cursor of a view whose rows are reached by position (<see cref="IRowIndexedDataView"/>): it walks
/// <paramref name="count"/> positions in one batch, and each view says which of its rows a position shows.
/// </summary>
internal abstract class PositionalRowCursor(DataViewSchema schema, HashSet<int> active, long count) : DataViewRowCursor
{
    private long _position = -1;

    /// <summary>The view's row at the current position (−1 before the first move).</summary>
    protected int Row { get; private set; } = -1;

    public override DataViewSchema Schema => schema;

    public override long Position => _position;

    public override long Batch => 0;

    public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

    public override bool MoveNext()
    {
        if (_position + 1 >= count)
        {
            _position = count;
            return false;
        }
        _position++;
        Row = RowAt(_position);
        return true;
    }

    /// <summary>The view's row shown at <paramref name="position"/>.</summary>
    protected abstract int RowAt(long position);

    /// <summary>Hands out <paramref name="getter"/> for a column the cursor was created with, as the type asked for.</summary>
    protected ValueGetter<TValue> Typed<TValue>(DataViewSchema.Column column, Delegate getter)
    {
        if (!IsColumnActive(column))
            throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was created.");
        return getter as ValueGetter<TValue>
            ?? throw new InvalidOperationException($"Column '{column.Name}' is of type {column.Type}, not {typeof(TValue).Name}.");
    }

    public override ValueGetter<DataViewRowId> GetIdGetter()
        => (ref DataViewRowId destination) => destination = new DataViewRowId((ulong)Row, 0);
}
