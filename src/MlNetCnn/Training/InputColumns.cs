using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>Finds and checks the image and label columns, with errors that name the column and what was expected.</summary>
internal static class InputColumns
{
    internal static string Mismatch(string role, string column, string expected, string actual)
        => $"Schema mismatch for {role} column '{column}': expected {expected}, got {actual}.";

    /// <summary>Resolves the image column and its C×H×W shape (from the vector's dimensions, the explicit sizes, or both, which must agree).</summary>
    public static (DataViewSchema.Column Column, ImageShape Shape) ResolveImage(
        DataViewSchema schema, string columnName, int? channels, int? height, int? width, string role = "feature")
    {
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"The {role} column '{columnName}' was not found in the input; columns present: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType n } vector || n != NumberDataViewType.Single || !vector.IsKnownSize)
            throw new ArgumentOutOfRangeException(nameof(schema), Mismatch(role, columnName, "a known-size vector of Single holding planar CHW pixels (as ExtractPixels produces)", $"{column.Type}"));
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
                throw new ArgumentOutOfRangeException(nameof(vector), Mismatch(role, columnName, $"the configured shape {c ?? dc}×{h ?? dh}×{w ?? dw}", $"a vector of dimensions {dc}×{dh}×{dw}"));
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
            $"a vector of C×H×W = {c?.ToString() ?? "C"}×{h?.ToString() ?? "H"}×{w?.ToString() ?? "W"} values (set Channels, ImageHeight and ImageWidth to match)", $"a vector of size {size}"));
    }

    /// <summary>The estimator-time check of an image column: present, and a vector of Single (sizes are checked at Fit).</summary>
    public static SchemaShape.Column ResolveImage(SchemaShape schema, string columnName, string role = "feature")
    {
        var column = schema.FirstOrDefault(c => c.Name == columnName);
        if (column.Name is null)
            throw new ArgumentOutOfRangeException(nameof(schema), $"The {role} column '{columnName}' was not found in the input.");
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || column.ItemType != NumberDataViewType.Single)
            throw new ArgumentOutOfRangeException(nameof(schema), Mismatch(role, columnName, "a known-size vector of Single holding planar CHW pixels (as ExtractPixels produces)", $"{column.Kind} of {column.ItemType}"));
        return column;
    }

    /// <summary>Resolves the label column, which must be a key type (MapValueToKey), and returns its number of classes.</summary>
    public static (DataViewSchema.Column Column, int ClassCount) ResolveLabel(DataViewSchema schema, string columnName)
    {
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{columnName}' was not found in the input; columns present: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => c.Name))}.");
        if (column.Type is KeyDataViewType { Count: 1 })
            throw new ArgumentOutOfRangeException(nameof(schema), $"The label column '{columnName}' has a single class: a classifier needs images of at least two classes. " +
                "Check that the training data holds two or more labels (e.g. one folder per class under the ImageFolder root, not one folder holding all images).");
        if (column.Type is not KeyDataViewType key || key.Count < 2 || key.Count > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(schema), Mismatch("label", columnName, "a key type with at least 2 values (apply MapValueToKey to the label first)", $"{column.Type}"));
        return (column, (int)key.Count);
    }
}
