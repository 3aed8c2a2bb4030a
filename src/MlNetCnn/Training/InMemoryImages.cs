using System.Runtime.InteropServices;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MlNetCnn;

/// <summary>
/// Images and labels read once from an <see cref="IDataView"/> into contiguous arrays, so each epoch can reshuffle
/// and copy batches straight into preallocated tensors.
/// </summary>
internal sealed class InMemoryImages
{
    private InMemoryImages(ImageShape shape, float[] pixels, int[] labels, int count, int skipped)
    {
        Shape = shape;
        Pixels = pixels;
        Labels = labels;
        Count = count;
        SkippedRows = skipped;
    }

    public ImageShape Shape { get; }

    /// <summary>Count × C × H × W values, image after image.</summary>
    public float[] Pixels { get; }

    /// <summary>Zero-based class of each image.</summary>
    public int[] Labels { get; }

    public int Count { get; }

    /// <summary>Rows left out because their label was missing (key value 0).</summary>
    public int SkippedRows { get; }

    public ReadOnlySpan<float> Image(int index) => Pixels.AsSpan(index * Shape.Size, Shape.Size);

    /// <summary>
    /// Splits off <paramref name="fraction"/> of the images of every class (at least one per class with two or more
    /// images), chosen with <paramref name="seed"/>; returns the remaining training images and the validation images.
    /// </summary>
    public (InMemoryImages Train, InMemoryImages Validation) SplitStratified(double fraction, int seed)
    {
        int[] validation = StratifiedSampler.Pick(new ArraySegment<int>(Labels, 0, Count), fraction, seed, "images");
        var held = validation.ToHashSet();
        return (Subset(Enumerable.Range(0, Count).Where(i => !held.Contains(i)).ToArray()), Subset(validation));
    }

    private InMemoryImages Subset(int[] indices)
    {
        int size = Shape.Size;
        var pixels = new float[(long)indices.Length * size];
        var labels = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            Image(indices[i]).CopyTo(pixels.AsSpan(i * size, size));
            labels[i] = Labels[indices[i]];
        }
        return new InMemoryImages(Shape, pixels, labels, indices.Length, 0);
    }

    public static InMemoryImages Load(IDataView data, DataViewSchema.Column image, DataViewSchema.Column label, ImageShape shape, string role)
    {
        int size = shape.Size;
        long capacity = data.GetRowCount() ?? 1024;
        if (capacity * size > Array.MaxLength)
            throw new InvalidOperationException($"The {role} data has {capacity} images of {shape}, more than one array holds ({Array.MaxLength} values).");
        var pixels = new float[capacity * size];
        var labels = new int[capacity];
        int count = 0, skipped = 0;
        VBuffer<float> buffer = default;
        uint key = 0;

        using var cursor = data.GetRowCursor(new[] { image, label });
        var getImage = cursor.GetGetter<VBuffer<float>>(image);
        var getLabel = cursor.GetGetter<uint>(label);
        while (cursor.MoveNext())
        {
            getLabel(ref key);
            if (key == 0)
            {
                skipped++;
                continue;
            }
            getImage(ref buffer);
            if (buffer.Length != size)
                throw new InvalidOperationException($"Row {cursor.Position} of the {role} data: column '{image.Name}' holds {buffer.Length} values, expected {size} ({shape}).");
            if (count == labels.Length)
            {
                long grown = Math.Min((long)labels.Length * 2, Array.MaxLength / size);
                if (grown <= count)
                    throw new InvalidOperationException($"The {role} data has more images of {shape} than one array holds.");
                Array.Resize(ref labels, (int)grown);
                Array.Resize(ref pixels, (int)grown * size);
            }
            buffer.CopyTo(pixels.AsSpan(count * size, size));
            labels[count++] = (int)key - 1;
        }
        if (count == 0)
            throw new InvalidOperationException($"The {role} data has no rows with a label{(skipped > 0 ? $" ({skipped} rows had a missing label)" : "")}.");
        return new InMemoryImages(shape, pixels, labels, count, skipped);
    }
}

internal static class VBufferExtensions
{
    /// <summary>Copies a possibly sparse buffer into a dense span of its full length.</summary>
    public static void CopyTo(this in VBuffer<float> buffer, Span<float> destination)
    {
        var values = buffer.GetValues();
        if (buffer.IsDense)
        {
            values.CopyTo(destination);
            return;
        }
        destination.Clear();
        var indices = buffer.GetIndices();
        for (int i = 0; i < indices.Length; i++)
            destination[indices[i]] = values[i];
    }
}
