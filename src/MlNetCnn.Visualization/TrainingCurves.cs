using ScottPlot;

namespace MlNetCnn.Visualization;

/// <summary>Loss and accuracy per epoch, training against validation, side by side (the plots Keras and PyTorch users look at first).</summary>
public static class TrainingCurves
{
    /// <summary>Writes the curves of <paramref name="history"/> (e.g. <see cref="CnnTransformer.TrainingHistory"/>) as
    /// a PNG file, atomically.</summary>
    /// <param name="history">The epochs' figures; the validation curves are drawn when every epoch has them.</param>
    /// <param name="path">The PNG file to write.</param>
    /// <param name="width">Width of the image in pixels.</param>
    /// <param name="height">Height of the image in pixels.</param>
    public static void SavePng(IReadOnlyList<EpochSummary> history, string path, int width = 1100, int height = 420)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (history.Count == 0)
            throw new ArgumentException("The training history is empty.", nameof(history));
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 200);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 150);

        PngFile.Save(path, file => Figure(history).SavePng(file, width, height));
    }

    /// <summary>The two plots, loss and accuracy, with a tick at whole epochs only.</summary>
    internal static Multiplot Figure(IReadOnlyList<EpochSummary> history)
    {
        double[] epochs = history.Select(e => (double)e.Epoch).ToArray();
        var figure = new Multiplot();
        figure.AddPlots(2);
        figure.Layout = new ScottPlot.MultiplotLayouts.Columns();
        // Legends sit where the curves usually are not: loss falls to the lower right, accuracy rises to the upper right.
        Draw(figure.GetPlot(0), "Loss", "cross-entropy", epochs, history.Select(e => e.TrainLoss),
            history.Select(e => e.ValidationLoss), Alignment.UpperRight);
        Draw(figure.GetPlot(1), "Accuracy", "accuracy", epochs, history.Select(e => e.TrainAccuracy),
            history.Select(e => e.ValidationAccuracy), Alignment.LowerRight);
        return figure;
    }

    /// <summary>
    /// Whole-epoch tick positions from <paramref name="first"/> to <paramref name="last"/>: every epoch up to 10 epochs,
    /// else the first one and every 2nd, 5th, 10th, 20th, ... epoch, at most about 10 ticks (an automatic axis puts
    /// ticks at 1.5, 2.5, ... for a few epochs, and an epoch has no halves).
    /// </summary>
    internal static double[] EpochTicks(int first, int last)
    {
        int span = Math.Max(0, last - first);
        int step = 1;
        for (int magnitude = 1; span / step > 10; magnitude *= 10)
        {
            foreach (int factor in (int[])[1, 2, 5])
            {
                step = factor * magnitude;
                if (span / step <= 10)
                    break;
            }
        }
        var ticks = new SortedSet<int> { first };
        for (int epoch = (first + step - 1) / step * step; epoch <= last; epoch += step)
            ticks.Add(Math.Max(epoch, first));
        return ticks.Select(t => (double)t).ToArray();
    }

    private static void Draw(Plot plot, string title, string axis, double[] epochs, IEnumerable<double> train,
        IEnumerable<double?> validation, Alignment legend)
    {
        plot.Add.Scatter(epochs, train.ToArray()).LegendText = "training";
        var validationValues = validation.ToArray();
        if (validationValues.All(v => v.HasValue))
            plot.Add.Scatter(epochs, validationValues.Select(v => v!.Value).ToArray()).LegendText = "validation";
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (double epoch in EpochTicks((int)epochs.Min(), (int)epochs.Max()))
            ticks.AddMajor(epoch, epoch.ToString(System.Globalization.CultureInfo.InvariantCulture));
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel(axis);
        plot.ShowLegend(legend);
    }
}
