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
    /// <summary>Writes the grid as a PNG file, atomically.</summary>
    /// <param name="samples">The images with their labels, e.g. from <see cref="FromScoredData"/>.</param>
    /// <param name="path">The PNG file to write.</param>
    /// <param name="columns">Images per row.</param>
    /// <param name="cellSize">Width and height of each image's cell, in pixels.</param>
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
    /// predicted label, spread over the classes: the classes take turns, so each class shows count / classes images
    /// (one more for the first classes when it does not divide), in data order within a class, even when the data is
    /// sorted by class as folder listings are. The images come grouped by class, in the order the classes first appear.
    /// Labels may be text or key columns (keys are shown by their values). Reading stops once every class has its share.
    /// </summary>
    /// <param name="scored">The scored data: the output of a trained pipeline's <c>Transform</c>.</param>
    /// <param name="count">How many images to pick at most.</param>
    /// <param name="featureColumnName">The image column, a <c>Vector&lt;Single, C, H, W&gt;</c>.</param>
    /// <param name="labelColumnName">The true label column, text or key.</param>
    /// <param name="predictedLabelColumnName">The predicted label column, text or key.</param>
    /// <returns>The picked images, grouped by true class.</returns>
    public static IReadOnlyList<LabelledImage> FromScoredData(IDataView scored, int count = 32,
        string featureColumnName = DefaultColumnNames.Features,
        string labelColumnName = DefaultColumnNames.Label, string predictedLabelColumnName = DefaultColumnNames.PredictedLabel)
    {
        ArgumentNullException.ThrowIfNull(scored);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var features = scored.Schema.GetColumnOrNull(featureColumnName)
            ?? throw new ArgumentException($"The scored data has no column '{featureColumnName}'.");
        if (features.Type is not VectorDataViewType { Dimensions.Length: 3 } vector || vector.ItemType != NumberDataViewType.Single)
            throw new ArgumentException($"Column '{featureColumnName}' must be a Vector<Single, C, H, W> "
                + $"(ExtractPixels output); it is {features.Type}.");
        var shape = new ImageShape(vector.Dimensions[0], vector.Dimensions[1], vector.Dimensions[2]);
        var label = scored.Schema.GetColumnOrNull(labelColumnName)
            ?? throw new ArgumentException($"The scored data has no column '{labelColumnName}'.");
        var predicted = scored.Schema.GetColumnOrNull(predictedLabelColumnName)
            ?? throw new ArgumentException($"The scored data has no column '{predictedLabelColumnName}'.");

        // Each class keeps up to its share (count / classes, rounded up) in data order; the turns below then take
        // count in all, so no class is left out because the data reached it last.
        int classes = scored.Schema.GetColumnOrNull(DefaultColumnNames.Score)?.Type is VectorDataViewType { Size: > 0 } score ? score.Size : 1;
        int perClass = Math.Max(1, (count + classes - 1) / classes);
        var byClass = new Dictionary<string, List<LabelledImage>>();
        var groupsInOrder = new List<List<LabelledImage>>();
        int full = 0;
        using (var cursor = scored.GetRowCursor([features, label, predicted]))
        {
            var getFeatures = cursor.GetGetter<VBuffer<float>>(features);
            var getLabel = TextGetter(cursor, label);
            var getPredicted = TextGetter(cursor, predicted);
            VBuffer<float> buffer = default;
            while (full < classes && cursor.MoveNext())
            {
                string truth = getLabel();
                if (!byClass.TryGetValue(truth, out var images))
                {
                    byClass[truth] = images = [];
                    groupsInOrder.Add(images);
                }
                if (images.Count >= perClass)
                    continue;
                getFeatures(ref buffer);
                images.Add(new LabelledImage(buffer.DenseValues().ToArray(), shape, truth, getPredicted()));
                if (images.Count == perClass)
                    full++;
            }
        }
        var groups = groupsInOrder;
        var taken = new int[groups.Count];
        for (int total = 0, round = 0; total < count && round < perClass; round++)
        {
            for (int c = 0; c < groups.Count && total < count; c++)
            {
                if (round < groups[c].Count)
                {
                    taken[c]++;
                    total++;
                }
            }
        }
        return groups.SelectMany((images, c) => images.Take(taken[c])).ToList();
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
                return key == 0 ? "?" : hasNames && key <= values.Length ? values[key - 1]
                    : key.ToString(System.Globalization.CultureInfo.InvariantCulture);
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
