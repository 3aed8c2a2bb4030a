using System.Globalization;

namespace MlNetCnn;

/// <summary>
/// The wording of training progress, shared by <see cref="TrainingProgress.ToString"/>, <see cref="EpochSummary.ToString"/>
/// and <see cref="ConsoleTrainingProgress"/> so that every display says the same thing the same way (invariant culture).
/// </summary>
internal static class TrainingProgressText
{
    private static readonly CultureInfo s_invariant = CultureInfo.InvariantCulture;

    /// <summary>"loss 0.4321, accuracy 87.50%, 1,234 images/s, lr 2.5e-3, ETA 0:42" for a report within an epoch.</summary>
    public static string Running(TrainingProgress p)
        => string.Create(s_invariant,
            $"loss {p.Loss:F4}, accuracy {Percent(p.Accuracy)}, {p.ImagesPerSecond:N0} images/s, lr "
            + $"{LearningRate(p.LearningRate)}, ETA {Duration(p.EstimatedTimeRemaining)}");

    /// <summary>An epoch's figures: training loss and accuracy, validation ones when measured, learning rate, time, speed.</summary>
    public static string Epoch(EpochSummary s)
    {
        string validation = s.ValidationLoss is { } loss
            ? string.Create(s_invariant, $", validation loss {loss:F4}, validation accuracy {Percent(s.ValidationAccuracy ?? double.NaN)}")
            : "";
        return string.Create(s_invariant,
            $"loss {s.TrainLoss:F4}, accuracy {Percent(s.TrainAccuracy)}{validation}, lr "
            + $"{LearningRate(s.LearningRate)}, {s.Duration.TotalSeconds:F1} s, {s.ImagesPerSecond:N0} images/s");
    }

    /// <summary>A text progress bar of <paramref name="width"/> cells, Keras-style: <c>[=====&gt;....]</c>.</summary>
    public static string Bar(int done, int total, int width)
    {
        int filled = total <= 0 ? width : (int)Math.Clamp((long)done * width / total, 0, width);
        if (filled == width)
            return "[" + new string('=', width) + "]";
        return "[" + new string('=', filled) + ">" + new string('.', width - filled - 1) + "]";
    }

    /// <summary>"0:42", "12:05" or "1:02:03".</summary>
    public static string Duration(TimeSpan time)
    {
        if (time < TimeSpan.Zero)
            time = TimeSpan.Zero;
        int hours = (int)time.TotalHours;
        return hours > 0
            ? string.Create(s_invariant, $"{hours}:{time.Minutes:00}:{time.Seconds:00}")
            : string.Create(s_invariant, $"{time.Minutes}:{time.Seconds:00}");
    }

    private static string Percent(double fraction) => (fraction * 100).ToString("F2", s_invariant) + "%";

    private static string LearningRate(double rate) => rate.ToString("0.###e+0", s_invariant);
}
