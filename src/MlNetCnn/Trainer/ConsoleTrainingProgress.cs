namespace MlNetCnn;

/// <summary>
/// Shows <see cref="CnnTrainer"/>'s progress in the console, one line per epoch, like Keras' <c>verbose=1</c>:
/// <c>Epoch 3/10 [=========&gt;....] 120/469  loss 0.4321, accuracy 87.50%, 1,234 images/s, lr 2.5e-3, ETA 0:42</c>,
/// redrawn in place while the epoch runs and completed with the epoch's figures (validation ones included) when it
/// ends. When the output is redirected to a file or a pipe, it writes only the finished epochs' lines, without
/// carriage returns. Set it as <see cref="CnnTrainerOptions.Progress"/>; the line is redrawn about twice a second
/// (<see cref="CnnTrainerOptions.ProgressInterval"/> 0, the default) or every N batches.
/// </summary>
/// <example>
/// <code>
/// var trainer = ml.MulticlassClassification.Trainers.Cnn(new CnnTrainerOptions
/// {
///     Architecture = CnnArchitecture.LeNet5,
///     Epochs = 5,
///     Progress = new ConsoleTrainingProgress(),
/// });
/// </code>
/// </example>
public sealed class ConsoleTrainingProgress : IProgress<TrainingProgress>, INoteDisplay
{
    private const int BarWidth = 30;
    private readonly TextWriter _writer;
    private readonly bool _redraw;
    private readonly int _maximumWidth;
    private readonly Lock _lock = new();
    private int _shownLength;

    /// <summary>Writes to the console: a line redrawn in place on a terminal, a line per epoch when the output is redirected.</summary>
    public ConsoleTrainingProgress()
        : this(Console.Out, redrawInPlace: !Console.IsOutputRedirected, maximumLineWidth: TerminalWidth())
    {
    }

    /// <summary>Writes to <paramref name="writer"/>.</summary>
    /// <param name="writer">Where the lines go.</param>
    /// <param name="redrawInPlace">
    /// True to redraw the current epoch's line with a carriage return after every report (for a terminal); false to write
    /// only a line per finished epoch (for a file, a pipe or a log).
    /// </param>
    /// <param name="maximumLineWidth">
    /// The longest line drawn in place (e.g. the terminal's width less one: a line that wraps cannot be redrawn); null for no limit.
    /// Finished epochs' lines are never cut.
    /// </param>
    public ConsoleTrainingProgress(TextWriter writer, bool redrawInPlace, int? maximumLineWidth = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (maximumLineWidth is < 20)
            throw new ArgumentOutOfRangeException(nameof(maximumLineWidth), maximumLineWidth, "A progress line needs at least 20 characters.");
        _writer = writer;
        _redraw = redrawInPlace;
        _maximumWidth = maximumLineWidth ?? int.MaxValue;
    }

    /// <summary>Shows <paramref name="value"/>: redraws the epoch's line, or completes it at the end of an epoch.</summary>
    /// <param name="value">The trainer's report.</param>
    public void Report(TrainingProgress value)
    {
        ArgumentNullException.ThrowIfNull(value);
        lock (_lock)
        {
            if (value.Summary is { } summary)
                WriteEpochEnd(value, summary);
            else if (_redraw)
                Redraw(Line(value, value.Batch, TrainingProgressText.Running(value)));
        }
    }

    void INoteDisplay.ShowNote(string note)
    {
        lock (_lock)
        {
            if (_shownLength > 0)
                _writer.WriteLine();
            _writer.WriteLine(note);
            _writer.Flush();
            _shownLength = 0;
        }
    }

    private void WriteEpochEnd(TrainingProgress value, EpochSummary summary)
    {
        string figures = TrainingProgressText.Epoch(summary);
        if (value.Epoch < value.TotalEpochs)
            figures += ", ETA " + TrainingProgressText.Duration(value.EstimatedTimeRemaining);
        string line = _redraw ? Line(value, value.BatchesPerEpoch, figures) : $"Epoch {value.Epoch}/{value.TotalEpochs}: {figures}";
        if (_redraw)
            _writer.Write('\r');
        _writer.WriteLine(line.PadRight(_shownLength));
        _writer.Flush();
        _shownLength = 0;
    }

    private void Redraw(string line)
    {
        if (line.Length > _maximumWidth)
            line = line[..(_maximumWidth - 1)] + "…";
        _writer.Write('\r');
        // Spaces wipe what is left of a longer previous line.
        _writer.Write(line.PadRight(_shownLength));
        _writer.Flush();
        _shownLength = line.Length;
    }

    private static string Line(TrainingProgress value, int batch, string figures)
    {
        string batches = value.BatchesPerEpoch.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string done = batch.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(batches.Length);
        return $"Epoch {value.Epoch}/{value.TotalEpochs} "
            + $"{TrainingProgressText.Bar(batch, value.BatchesPerEpoch, BarWidth)} {done}/{batches}  {figures}";
    }

    private static int? TerminalWidth()
    {
        try
        {
            return Console.IsOutputRedirected || Console.WindowWidth < 21 ? null : Console.WindowWidth - 1;
        }
        catch (IOException)
        {
            return null;
        }
        catch (PlatformNotSupportedException)
        {
            return null;
        }
    }
}
