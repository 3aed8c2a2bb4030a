using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// A lazy view of the rows of <c>source</c> whose position is marked (or, with <c>keepMarked</c> false, unmarked) in a
/// mask: every column passes through unchanged, in the source's order.
/// </summary>
internal sealed class RowSubsetDataView(IDataView source, bool[] marked, bool keepMarked, long count) : IDataView
{
    private readonly bool[] _marked = marked;
    private readonly bool _keepMarked = keepMarked;

    public DataViewSchema Schema => source.Schema;

    public bool CanShuffle => false;

    public long? GetRowCount() => count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        => new Cursor(this, source.GetRowCursor(columnsNeeded));

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor(RowSubsetDataView parent, DataViewRowCursor input) : DataViewRowCursor
    {
        private long _sourceRow = -1;
        private long _position = -1;

        public override DataViewSchema Schema => input.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column) => input.IsColumnActive(column);

        public override bool MoveNext()
        {
            while (input.MoveNext())
            {
                if (++_sourceRow >= parent._marked.Length)
                    throw new InvalidOperationException("The data being split now has more than the "
                        + $"{parent._marked.Length} rows it had when it was split.");
                if (parent._marked[_sourceRow] == parent._keepMarked)
                {
                    _position++;
                    return true;
                }
            }
            return false;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => input.GetGetter<TValue>(column);

        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                input.Dispose();
            base.Dispose(disposing);
        }
    }
}
