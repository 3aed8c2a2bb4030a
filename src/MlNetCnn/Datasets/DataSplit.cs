using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace MlNetCnn;

/// <summary>Splits an <see cref="IDataView"/> into training and validation rows.</summary>
public static class DataSplit
{
    /// <summary>
    /// Splits <paramref name="data"/> into training and validation rows, stratified by the label: every class gives
    /// <paramref name="validationFraction"/> of its rows (rounded, at least one of a class with two or more rows, never
    /// all of them) to validation, chosen with <paramref name="seed"/>, so both parts keep the classes' proportions.
    /// ML.NET's <c>TrainTestSplit</c> does not stratify by label.
    /// </summary>
    /// <remarks>
    /// The label column (key, text, number or boolean; a missing key counts as a class of its own) is read once; the
    /// two results are lazy views over <paramref name="data"/> that keep its row order and every column.
    /// </remarks>
    /// <param name="mlContext">Supplies the seed when <paramref name="seed"/> is null.</param>
    /// <param name="data">The rows to split; it must return its rows in the same order on every cursor.</param>
    /// <param name="validationFraction">The share of every class that goes to validation, in (0, 1).</param>
    /// <param name="labelColumnName">The column that names the class.</param>
    /// <param name="seed">Seeds the choice of validation rows; null draws it from <paramref name="mlContext"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">The fraction is not in (0, 1), or the label column is missing or not a scalar.</exception>
    /// <exception cref="InvalidOperationException">No class has two rows, so no validation row can be chosen.</exception>
    public static (IDataView Train, IDataView Validation) StratifiedTrainValidation(
        MLContext mlContext, IDataView data, double validationFraction, string labelColumnName = DefaultColumnNames.Label, int? seed = null)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentNullException.ThrowIfNull(data);
        if (!(validationFraction > 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "The validation fraction must be in (0, 1).");
        var label = data.Schema.GetColumnOrNull(labelColumnName)
            ?? throw new ArgumentOutOfRangeException(nameof(labelColumnName),
                $"The label column '{labelColumnName}' was not found; columns present: "
                + $"{string.Join(", ", data.Schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
        if (label.Type is not PrimitiveDataViewType)
            throw new ArgumentOutOfRangeException(nameof(labelColumnName),
                $"The label column '{labelColumnName}' must hold one value per row (a key, text, number or boolean), "
                + $"not {label.Type}.");

        int[] classes = (int[])typeof(DataSplit).GetMethod(nameof(ClassOfEveryRow), BindingFlags.NonPublic | BindingFlags.Static)!
            .MakeGenericMethod(label.Type.RawType).Invoke(null, BindingFlags.DoNotWrapExceptions, null, [data, label], null)!;
        int chosenSeed = seed ?? ((IHostEnvironment)mlContext).Register(nameof(DataSplit)).Rand.Next();
        int[] validation = StratifiedSampler.Pick(classes, validationFraction, chosenSeed);
        var isValidation = new bool[classes.Length];
        foreach (int row in validation)
            isValidation[row] = true;
        // Data readable by position stays so, so the trainer can still shuffle each part fully without decoding it.
        if (data is IRowIndexedDataView indexed)
            return (indexed.SelectRows(Enumerable.Range(0, classes.Length).Where(r => !isValidation[r]).ToArray()), indexed.SelectRows(validation));
        return (new RowSubsetDataView(data, isValidation, false, classes.Length - validation.Length),
                new RowSubsetDataView(data, isValidation, true, validation.Length));
    }

    /// <summary>Reads the label of every row and numbers the distinct values in order of appearance.</summary>
    private static int[] ClassOfEveryRow<T>(IDataView data, DataViewSchema.Column label)
    {
        var ids = new Dictionary<object, int>();
        var classes = new List<int>((int)Math.Min(data.GetRowCount() ?? 1024, Array.MaxLength));
        using var cursor = data.GetRowCursor([label]);
        var getter = cursor.GetGetter<T>(label);
        T value = default!;
        while (cursor.MoveNext())
        {
            getter(ref value);
            object key = value is ReadOnlyMemory<char> text ? text.ToString() : (object?)value ?? "";
            if (!ids.TryGetValue(key, out int id))
                ids.Add(key, id = ids.Count);
            classes.Add(id);
        }
        return classes.ToArray();
    }
}
