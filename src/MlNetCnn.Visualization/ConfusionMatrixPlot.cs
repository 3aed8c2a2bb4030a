using Microsoft.ML.Data;
using ScottPlot;

namespace MlNetCnn.Visualization;

/// <summary>A confusion matrix as a heat map: true class per row, predicted class per column, counts written in the cells.</summary>
public static class ConfusionMatrixPlot
{
    /// <summary>Writes <paramref name="matrix"/> (from <c>mlContext.MulticlassClassification.Evaluate</c>) as a PNG file.</summary>
    /// <param name="matrix">The confusion matrix.</param>
    /// <param name="path">The PNG file to write.</param>
    /// <param name="classNames">Names for the classes in key order (e.g. <see cref="CnnTransformer.ClassNames"/>); numbers when null.</param>
    /// <param name="size">Width and height in pixels.</param>
    public static void SavePng(ConfusionMatrix matrix, string path, IReadOnlyList<string>? classNames = null, int size = 700)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        int classes = matrix.NumberOfClasses;
        if (classNames != null && classNames.Count != classes)
            throw new ArgumentException($"The matrix has {classes} classes but {classNames.Count} names were given.", nameof(classNames));
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 200);
        var names = classNames ?? Enumerable.Range(0, classes).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();

        var counts = new double[classes, classes];
        for (int actual = 0; actual < classes; actual++)
        {
            for (int predicted = 0; predicted < classes; predicted++)
                counts[actual, predicted] = matrix.Counts[actual][predicted];
        }

        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(counts);
        // Few counts light, many dark, as confusion matrices are usually drawn.
        heatmap.Colormap = new ScottPlot.Colormaps.Blues().Reversed();
        plot.Add.ColorBar(heatmap);
        double max = Math.Max(1, counts.Cast<double>().Max());
        for (int actual = 0; actual < classes; actual++)
        {
            for (int predicted = 0; predicted < classes; predicted++)
            {
                // Heatmap row 0 is drawn at the top, at y = classes - 1.
                var label =
                    plot.Add.Text(counts[actual, predicted].ToString("0",
                        System.Globalization.CultureInfo.InvariantCulture), predicted, classes - 1 - actual);
                label.LabelAlignment = Alignment.MiddleCenter;
                label.LabelFontColor = counts[actual, predicted] > max / 2 ? Colors.White : Colors.Black;
            }
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, classes).Select(i => (double)i).ToArray(), names.ToArray());
        plot.Axes.Left.SetTicks(Enumerable.Range(0, classes).Select(i => (double)(classes - 1 - i)).ToArray(), names.ToArray());
        // Long class names (e.g. "Ankle boot") would overlap side by side.
        bool rotate = classes > 5 && names.Max(n => n.Length) > 3;
        plot.Axes.Bottom.TickLabelStyle.Rotation = rotate ? 45 : 0;
        plot.Axes.Bottom.TickLabelStyle.Alignment = rotate ? Alignment.MiddleLeft : Alignment.UpperCenter;
        plot.XLabel("predicted");
        plot.YLabel("true");
        plot.Title($"Confusion matrix (accuracy {Accuracy(counts, classes):P1})");
        PngFile.Save(path, file => plot.SavePng(file, size, size));
    }

    private static double Accuracy(double[,] counts, int classes)
    {
        double total = counts.Cast<double>().Sum();
        return total == 0 ? 0 : Enumerable.Range(0, classes).Sum(i => counts[i, i]) / total;
    }
}
