using ScottPlot;

namespace MlNetCnn.Visualization;

/// <summary>Loss and accuracy per epoch, training against validation, side by side (the plots Keras and PyTorch users look at first).</summary>
public static class TrainingCurves
{
    /// <summary>Writes the curves of <paramref name="history"/> (e.g. <see cref="CnnTransformer.TrainingHistory"/>) as a PNG file.</summary>
    public static void SavePng(IReadOnlyList<EpochSummary> history, string path, int width = 1100, int height = 420)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (history.Count == 0)
            throw new ArgumentException("The training history is empty.", nameof(history));
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 200);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 150);

        double[] epochs = history.Select(e => (double)e.Epoch).ToArray();
        var figure = new Multiplot();
        figure.AddPlots(2);
        figure.Layout = new ScottPlot.MultiplotLayouts.Columns();
        // Legends sit where the curves usually are not: loss falls to the lower right, accuracy rises to the upper right.
        Draw(figure.GetPlot(0), "Loss", "cross-entropy", epochs, history.Select(e => e.TrainLoss), history.Select(e => e.ValidationLoss), Alignment.UpperRight);
        Draw(figure.GetPlot(1), "Accuracy", "accuracy", epochs, history.Select(e => e.TrainAccuracy), history.Select(e => e.ValidationAccuracy), Alignment.LowerRight);
        PngFile.Save(path, file => figure.SavePng(file, width, height));
    }

    private static void Draw(Plot plot, string title, string axis, double[] epochs, IEnumerable<double> train, IEnumerable<double?> validation, Alignment legend)
    {
        plot.Add.Scatter(epochs, train.ToArray()).LegendText = "training";
        var validationValues = validation.ToArray();
        if (validationValues.All(v => v.HasValue))
            plot.Add.Scatter(epochs, validationValues.Select(v => v!.Value).ToArray()).LegendText = "validation";
        plot.Title(title);
        plot.XLabel("epoch");
        plot.YLabel(axis);
        plot.ShowLegend(legend);
    }
}
