using Microsoft.ML;

namespace MlNetCnn;

/// <summary>
/// A data view whose rows can be read in any order by position (an <see cref="ImageFolder"/> listing, the binary
/// readers, a split of either). The trainer's streaming path reshuffles such data fully every epoch; other data can
/// only be read in order and is shuffled through a buffer.
/// </summary>
internal interface IRowIndexedDataView : IDataView
{
    /// <summary>A lazy view of the rows at <paramref name="rows"/> (positions in this view), in that order, with every column.</summary>
    IDataView SelectRows(int[] rows);
}
