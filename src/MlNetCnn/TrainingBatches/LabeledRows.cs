using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// The rows of a data view the trainer learns from: their positions and zero-based classes, read in one pass over
/// the label column alone (no image is decoded). Rows without a label (key value 0) are left out and counted.
/// </summary>
internal sealed class LabeledRows
{
    private LabeledRows(int[] positions, int[] labels, int skipped, long totalRows)
    {
        Positions = positions;
        Labels = labels;
        SkippedRows = skipped;
        TotalRows = totalRows;
    }

    /// <summary>Positions of the rows in the data view, ascending.</summary>
    public int[] Positions { get; }

    /// <summary>The zero-based class of each row.</summary>
    public int[] Labels { get; }

    public int Count => Positions.Length;

    /// <summary>Rows left out because their label was missing.</summary>
    public int SkippedRows { get; }

    /// <summary>All rows of the data view, labelled or not.</summary>
    public long TotalRows { get; }

    public static LabeledRows Read(IDataView data, DataViewSchema.Column label, string role)
    {
        var positions = new List<int>();
        var labels = new List<int>();
        int skipped = 0;
        uint key = 0;
        long rows = 0;
        using (var cursor = data.GetRowCursor([label]))
        {
            var getLabel = cursor.GetGetter<uint>(label);
            while (cursor.MoveNext())
            {
                rows++;
                if (cursor.Position >= int.MaxValue)
                    throw new InvalidOperationException($"The {role} data has more than {int.MaxValue} rows.");
                getLabel(ref key);
                if (key == 0)
                {
                    skipped++;
                    continue;
                }
                positions.Add((int)cursor.Position);
                labels.Add((int)key - 1);
            }
        }
        if (positions.Count == 0)
            throw new InvalidOperationException($"The {role} data has no rows with a "
                + $"label{(skipped > 0 ? $" ({skipped} rows had a missing label)" : "")}.");
        return new LabeledRows(positions.ToArray(), labels.ToArray(), skipped, rows);
    }

    /// <summary>The rows at <paramref name="indices"/> (ascending indices into this set).</summary>
    public LabeledRows Subset(int[] indices)
        => new(indices.Select(i => Positions[i]).ToArray(), indices.Select(i => Labels[i]).ToArray(), 0, TotalRows);

    /// <summary>
    /// Splits off <paramref name="fraction"/> of the rows of every class (at least one per class with two or more
    /// rows), chosen with <paramref name="seed"/>: the indices of the remaining training rows and of the validation rows.
    /// </summary>
    public (int[] Train, int[] Validation) SplitStratified(double fraction, int seed)
    {
        int[] validation = StratifiedSampler.Pick(Labels, fraction, seed, "images");
        var held = validation.ToHashSet();
        return (Enumerable.Range(0, Count).Where(i => !held.Contains(i)).ToArray(), validation);
    }
}
