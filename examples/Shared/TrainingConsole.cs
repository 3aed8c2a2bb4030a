using MlNetCnn;
using Spectre.Console;

namespace MlNetCnn.Examples;

/// <summary>
/// Shows CnnTrainer's progress in the console: a live progress bar (epoch, batch, loss, accuracy, images/s, time left)
/// on an interactive terminal, plain per-epoch lines when the output is redirected. Shared by the examples.
/// </summary>
internal static class TrainingConsole
{
    /// <summary>Runs <paramref name="train"/> with a progress reporter for <see cref="CnnTrainerOptions.Progress"/>.</summary>
    public static T Run<T>(string title, Func<IProgress<TrainingProgress>, T> train)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return train(new LineReporter());
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(title));
                result = train(new BarReporter(task));
                task.Value = task.MaxValue;
            });
        return result;
    }

    private static string Describe(TrainingProgress p)
        => $"epoch {p.Epoch}/{p.TotalEpochs} batch {p.Batch}/{p.BatchesPerEpoch}: loss {p.Loss:F4}, accuracy {p.Accuracy:P1}, {p.ImagesPerSecond:F0} images/s, lr {p.LearningRate:0.###e+0}";

    private sealed class LineReporter : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.IsEpochEnd)
                Console.WriteLine($"  [{value.Epoch}/{value.TotalEpochs}] {value.Summary} (about {value.EstimatedTimeRemaining.TotalSeconds:F0} s left)");
        }
    }

    private sealed class BarReporter(ProgressTask task) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            task.MaxValue = (double)value.TotalEpochs * value.BatchesPerEpoch;
            task.Value = (double)(value.Epoch - 1) * value.BatchesPerEpoch + value.Batch;
            task.Description = Markup.Escape(Describe(value));
            if (value.IsEpochEnd)
                AnsiConsole.MarkupLine(Markup.Escape($"  {value.Summary}"));
        }
    }
}
