using Microsoft.ML;
using Microsoft.ML.Data;
using ScottPlot;
using SkiaSharp;

namespace MlNetCnn.Visualization;

/// <summary>One image with its true and predicted class, for <see cref="SampleGrid"/>.</summary>
/// <param name="Pixels">Planar CHW values (any scale: each image is stretched to its own min..max for display).</param>
/// <param name="Shape">The image shape.</param>
/// <param name="TrueLabel">The true class.</param>
/// <param name="PredictedLabel">The predicted class.</param>
public sealed record LabelledImage(float[] Pixels, ImageShape Shape, string TrueLabel, string PredictedLabel);

/// <summary>A grid of images titled "predicted (true)", wrong predictions in red: the picture the teaching material shows after training.</summary>
public static class SampleGrid
{
    /// <summary>Writes the grid as a PNG file.</summary>
    public static void SavePng(IReadOnlyList<LabelledImage> samples, string path, int columns = 8, int cellSize = 130)
    {
        ArgumentNullException.ThrowIfNull(samples);
        if (samples.Count == 0)
            throw new ArgumentException("There are no samples to draw.", nameof(samples));
        ArgumentOutOfRangeException.ThrowIfLessThan(columns, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cellSize, 40);
        columns = Math.Min(columns, samples.Count);
        int rows = (samples.Count + columns - 1) / columns;

        var figure = new Multiplot();
        figure.AddPlots(rows * columns);
        figure.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns);
        for (int i = 0; i < rows * columns; i++)
        {
            var plot = figure.GetPlot(i);
            plot.Axes.Frameless();
            plot.HideGrid();
            if (i >= samples.Count)
                continue;
            var sample = samples[i];
            plot.Add.ImageRect(ToImage(sample), new CoordinateRect(0, 1, 0, 1));
            plot.Axes.SquareUnits();
            plot.Title($"{sample.PredictedLabel} ({sample.TrueLabel})");
            plot.Axes.Title.Label.ForeColor = sample.PredictedLabel == sample.TrueLabel ? Colors.DarkGreen : Colors.Red;
            plot.Axes.Title.Label.FontSize = 11;
        }
        PngFile.Save(path, file => figure.SavePng(file, columns * cellSize, rows * cellSize));
    }

    /// <summary>
    /// Picks up to <paramref name="count"/> rows of scored data (a pipeline's output) with their image, true and
    /// predicted label, spread over the classes (at most count / classes per true class, in data order, so sorted test
    /// folders still show every class). Labels may be text or key columns (keys are shown by their values).
    /// </summary>
    public static IReadOnlyList<LabelledImage> FromScoredData(IDataView scored, int count = 32, string featureColumnName = DefaultColumnNames.Features,
        string labelColumnName = DefaultColumnNames.Label, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel)
    {
        ArgumentNullException.ThrowIfNull(scored);
        var features = scored.Schema.GetColumnOrNull(featureColumnName) ?? throw new ArgumentException($"The scored data has no column '{featureColumnName}'.");
        if (features.Type is not VectorDataViewType { Dimensions.Length: 3 } vector || vector.ItemType != NumberDataViewType.Single)
            throw new ArgumentException($"Column '{featureColumnName}' must be a Vector<Single, C, H, W> (ExtractPixels output); it is {features.Type}.");
        var shape = new ImageShape(vector.Dimensions[0], vector.Dimensions[1], vector.Dimensions[2]);
        var label = scored.Schema.GetColumnOrNull(labelColumnName) ?? throw new ArgumentException($"The scored data has no column '{labelColumnName}'.");
        var predicted = scored.Schema.GetColumnOrNull(predictedLabelColumnName) ?? throw new ArgumentException($"The scored data has no column '{predictedLabelColumnName}'.");

        int classes = scored.Schema.GetColumnOrNull(DefaultColumnNames.Score)?.Type is VectorDataViewType { Size: > 0 } score ? score.Size : 1;
        int perClass = Math.Max(1, (count + classes - 1) / classes);
        var taken = new Dictionary<string, int>();
        var result = new List<LabelledImage>();
        using var cursor = scored.GetRowCursor([features, label, predicted]);
        var getFeatures = cursor.GetGetter<VBuffer<float>>(features);
        var getLabel = TextGetter(cursor, label);
        var getPredicted = TextGetter(cursor, predicted);
        VBuffer<float> buffer = default;
        while (result.Count < count && cursor.MoveNext())
        {
            string truth = getLabel();
            if (taken.GetValueOrDefault(truth) >= perClass)
                continue;
            taken[truth] = taken.GetValueOrDefault(truth) + 1;
            getFeatures(ref buffer);
            result.Add(new LabelledImage(buffer.DenseValues().ToArray(), shape, truth, getPredicted()));
        }
        return result;
    }

    private static Func<string> TextGetter(DataViewRow row, DataViewSchema.Column column)
    {
        if (column.Type is TextDataViewType)
        {
            var getter = row.GetGetter<ReadOnlyMemory<char>>(column);
            return () =>
            {
                ReadOnlyMemory<char> value = default;
                getter(ref value);
                return value.ToString();
            };
        }
        if (column.Type is KeyDataViewType)
        {
            var getter = row.GetGetter<uint>(column);
            var names = new VBuffer<ReadOnlyMemory<char>>();
            bool hasNames = column.Annotations.Schema.GetColumnOrNull("KeyValues")?.Type is VectorDataViewType { ItemType: TextDataViewType };
            if (hasNames)
                column.GetKeyValues(ref names);
            var values = names.DenseValues().Select(v => v.ToString()).ToArray();
            return () =>
            {
                uint key = 0;
                getter(ref key);
                return key == 0 ? "?" : hasNames && key <= values.Length ? values[key - 1] : key.ToString(System.Globalization.CultureInfo.InvariantCulture);
            };
        }
        throw new ArgumentException($"Column '{column.Name}' must be text or a key to be shown as a label; it is {column.Type}.");
    }

    private static ScottPlot.Image ToImage(LabelledImage sample)
    {
        var (channels, height, width) = (sample.Shape.Channels, sample.Shape.Height, sample.Shape.Width);
        if (sample.Pixels.Length != sample.Shape.Size)
            throw new ArgumentException($"A sample holds {sample.Pixels.Length} values, not {sample.Shape.Size} ({sample.Shape}).");
        float min = sample.Pixels.Min(), max = sample.Pixels.Max();
        float scale = max > min ? 255f / (max - min) : 0;
        int plane = height * width;
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                byte Channel(int c) => (byte)Math.Clamp((sample.Pixels[c * plane + y * width + x] - min) * scale, 0, 255);
                byte r = Channel(0), g = channels >= 3 ? Channel(1) : r, b = channels >= 3 ? Channel(2) : r;
                bitmap.SetPixel(x, y, new SKColor(r, g, b));
            }
        }
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return new ScottPlot.Image(encoded.ToArray());
    }
}
