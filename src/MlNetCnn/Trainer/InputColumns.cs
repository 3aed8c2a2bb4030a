using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>Finds and checks the image and label columns, with errors that name the column and what was expected.</summary>
internal static class InputColumns
{
    internal static string Mismatch(string role, string column, string expected, string actual)
        => $"Schema mismatch for {role} column '{column}': expected {expected}, got {actual}.";

    private const string PixelVector = "a known-size vector of Single holding planar CHW pixels (as ExtractPixels produces)";

    private static IEnumerable<string> Visible(DataViewSchema schema) => schema.Where(c => !c.IsHidden).Select(c => c.Name);

    private static List<string> KeyColumns(SchemaShape schema)
        => schema.Where(c => c.IsKey && c.Kind == SchemaShape.Column.VectorKind.Scalar).Select(c => c.Name).ToList();

    /// <summary>"…was not found", the columns that are there, and the option that names the column.</summary>
    private static string NotFound(string role, string column, IEnumerable<string> present)
    {
        string option = role == "label" ? "LabelColumnName (labelColumnName)" : "FeatureColumnName (featureColumnName)";
        return $"The {role} column '{column}' was not found in the input; columns present: {string.Join(", ", present)}. " +
               $"Name the {role} column with CnnTrainerOptions.{option}.";
    }

    /// <summary>Points at the key columns already there (a MapValueToKey with its output named otherwise), or at MapValueToKey.</summary>
    private static string KeyHint(List<string> keyColumns, string column) => keyColumns.Count switch
    {
        0 => $" Map the label to a key first: ml.Transforms.Conversion.MapValueToKey(\"{column}\").",
        _ => $" The input has the key column{(keyColumns.Count > 1 ? "s" : "")} {string.Join(", ", keyColumns.Select(k => $"'{k}'"))}: " +
             $"to train on {(keyColumns.Count > 1 ? "one" : "it")}, set CnnTrainerOptions.LabelColumnName (labelColumnName: \"{keyColumns[0]}\").",
    };

    /// <summary>An image column (not yet pixels) or a vector of unknown size gets the step that is missing.</summary>
    private static string PixelHint(string actual)
        => actual.Contains("Image", StringComparison.Ordinal)
            ? " The column holds images, not pixels: add ml.Transforms.ExtractPixels after ResizeImages, or use ml.Transforms.LoadImagesForCnn."
            : actual.Contains("Vector", StringComparison.Ordinal) && !actual.Contains(',', StringComparison.Ordinal)
            && actual.Contains("<Single>", StringComparison.Ordinal)
                ? " A vector of unknown size comes from images of unknown size: resize them first (ml.Transforms.ResizeImages, or LoadImagesForCnn)."
                : "";

    /// <summary>Resolves the image column and its C×H×W shape (from the vector's dimensions, the explicit sizes, or
    /// both, which must agree).</summary>
    public static (DataViewSchema.Column Column, ImageShape Shape) ResolveImage(
        DataViewSchema schema, string columnName, int? channels, int? height, int? width, string role = "feature")
    {
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), NotFound(role, columnName, Visible(schema)));
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType n } vector || n != NumberDataViewType.Single || !vector.IsKnownSize)
            throw new ArgumentOutOfRangeException(nameof(schema),
                Mismatch(role, columnName, PixelVector, $"{column.Type}") + PixelHint($"{column.Type}"));
        return (column, InferShape(columnName, vector, channels, height, width, role));
    }

    private static ImageShape InferShape(string columnName, VectorDataViewType vector, int? channels, int? height, int? width, string role)
    {
        int size = vector.Size;
        int? c = channels, h = height, w = width;
        if (vector.Dimensions.Length == 3)
        {
            var (dc, dh, dw) = (vector.Dimensions[0], vector.Dimensions[1], vector.Dimensions[2]);
            if ((c ?? dc) != dc || (h ?? dh) != dh || (w ?? dw) != dw)
                throw new ArgumentOutOfRangeException(nameof(vector),
                    Mismatch(role, columnName, $"the configured shape {c ?? dc}×{h ?? dh}×{w ?? dw}",
                        $"a vector of dimensions {dc}×{dh}×{dw}"));
            return new ImageShape(dc, dh, dw);
        }

        // A flat vector: fill in what was not given. With height and width known the channels follow (e.g. two
        // concatenated images); otherwise square images with 1 or 3 channels are assumed when unambiguous.
        // Sizes below 1 are rejected with the options; products are long so large ones cannot overflow.
        if (c is null && h is { } knownHeight && w is { } knownWidth && size % ((long)knownHeight * knownWidth) == 0)
            return new ImageShape((int)(size / ((long)knownHeight * knownWidth)), knownHeight, knownWidth);
        foreach (int candidate in c is { } given ? new[] { given } : new[] { 1, 3 })
        {
            int? side = h ?? w;
            if (h is null && w is null && size % candidate == 0)
            {
                int root = (int)Math.Round(Math.Sqrt(size / candidate));
                if (root * root * candidate == size)
                    return new ImageShape(candidate, root, root);
            }
            else if (side is { } s && size % ((long)candidate * s) == 0)
            {
                int other = (int)(size / ((long)candidate * s));
                if ((long)candidate * (h ?? other) * (w ?? other) == size)
                    return new ImageShape(candidate, h ?? other, w ?? other);
            }
        }
        throw new ArgumentOutOfRangeException(nameof(vector), Mismatch(role, columnName,
            $"a vector of C×H×W = {c?.ToString() ?? "C"}×{h?.ToString() ?? "H"}×{w?.ToString() ?? "W"} values (set "
            + "Channels, ImageHeight and ImageWidth to match)", $"a vector of size {size}"));
    }

    /// <summary>The estimator-time check of an image column: present, and a vector of Single (sizes are checked at Fit).</summary>
    public static SchemaShape.Column ResolveImage(SchemaShape schema, string columnName, string role = "feature")
    {
        var column = schema.FirstOrDefault(c => c.Name == columnName);
        if (column.Name is null)
            throw new ArgumentOutOfRangeException(nameof(schema), NotFound(role, columnName, schema.Select(c => c.Name)));
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || column.ItemType != NumberDataViewType.Single)
        {
            string actual = $"{column.Kind} of {column.ItemType}";
            throw new ArgumentOutOfRangeException(nameof(schema), Mismatch(role, columnName, PixelVector, actual) + PixelHint(actual));
        }
        return column;
    }

    /// <summary>The estimator-time check of the label column: present, and a scalar key (MapValueToKey).</summary>
    public static SchemaShape.Column ResolveLabel(SchemaShape schema, string columnName)
    {
        var column = schema.FirstOrDefault(c => c.Name == columnName);
        if (column.Name is null)
            throw new ArgumentOutOfRangeException(nameof(schema),
                NotFound("label", columnName, schema.Select(c => c.Name)) + KeyHint(KeyColumns(schema), columnName));
        if (!column.IsKey || column.Kind != SchemaShape.Column.VectorKind.Scalar)
        {
            throw new ArgumentOutOfRangeException(nameof(schema),
                Mismatch("label", columnName, "a key type", $"{column.Kind} of {column.ItemType}") + KeyHint(KeyColumns(schema), columnName));
        }
        return column;
    }

    /// <summary>Resolves the label column, which must be a key type (MapValueToKey), and returns its number of classes.</summary>
    public static (DataViewSchema.Column Column, int ClassCount) ResolveLabel(DataViewSchema schema, string columnName)
    {
        var keys = schema.Where(c => !c.IsHidden && c.Type is KeyDataViewType).Select(c => c.Name).ToList();
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), NotFound("label", columnName, Visible(schema)) + KeyHint(keys, columnName));
        if (column.Type is KeyDataViewType { Count: 1 })
            throw new ArgumentOutOfRangeException(nameof(schema),
                $"The label column '{columnName}' has a single class: a classifier needs images of at least two " +
                "classes. " +
                "Check that the training data holds two or more labels (e.g. one folder per class under the " +
                "ImageFolder root, not one folder holding all images).");
        if (column.Type is not KeyDataViewType key || key.Count < 2 || key.Count > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(schema),
                Mismatch("label", columnName, "a key type with at least 2 values", $"{column.Type}")
                + KeyHint(keys, columnName));
        return (column, (int)key.Count);
    }
}
